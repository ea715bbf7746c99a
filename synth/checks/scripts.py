"""Which writing system a text is in: the script rule that runs in front of the language detector.

A language written in its own script (Korean in Hangul, Hindi in Devanagari, Russian in Cyrillic,
...) cannot be written without that script, so a field asked in such a language must have a fair
share of its words in it. A statistical detector cannot promise that: on a short text, or on one
it has little model for, it may keep a Korean-labelled field with not one Hangul syllable. This rule
needs no model and no minimum length, and costs one regex pass in C (about 0.1 us per character).

The share is of words: whitespace-separated tokens holding at least one letter (numbers and
punctuation do not count), and a word is in the script when it holds one of its characters. Words,
not letters, because real text quotes Latin-script names, code and terms, which are long in letters
next to a Hangul syllable, a Han character or an Indic akshara: "Kubernetes एक container
orchestration platform है जो Docker के साथ काम करता है" is 30% Devanagari by letters but 62% by
words. In scripts written without spaces a "word" is a run between spaces, mostly a phrase in the
script, which English words join when written next to it ("Dockerコンテナを"). A field passes with
at least `MIN_SCRIPT_SHARE` of its words in the asked language's scripts; a field with none passes
never, however short.

>>> script_share("정부는 오늘 새로운 규칙을 결정했습니다.", "ko")
1.0
>>> script_share("The government decided on new rules.", "ko")
0.0

Not handled: languages written in Latin script (the detector tells those apart), and Serbian,
written in both Cyrillic and Latin: `script_share` returns None for them. Romanised text of a
script language (Hinglish, romaji) fails the rule; `--no-language-check` turns it off with the
detector.
"""

from __future__ import annotations

import re

# At least this share of a field's words holds a letter of its language's script. Code-mixed prose
# in these languages comes out at 0.5 and more (the Hindi line above: 0.62); an English text
# quoting two Korean words in eleven comes out at 0.18. Between the two the detector decides.
MIN_SCRIPT_SHARE = 0.3

# Unicode blocks of each script (letters, marks and the few signs inside them), as regex ranges.
SCRIPT_RANGES: dict[str, str] = {
    "Hangul": "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff",
    "Han": "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f",
    "Kana": "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f\U0001b000-\U0001b16f",
    "Thai": "\u0e00-\u0e7f",
    "Lao": "\u0e80-\u0eff",
    "Khmer": "\u1780-\u17ff\u19e0-\u19ff",
    "Myanmar": "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f",
    "Arabic": "\u0600-\u06ff\u0750-\u077f\u0870-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
    "Hebrew": "\u0590-\u05ff\ufb1d-\ufb4f",
    "Cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "Greek": "\u0370-\u03ff\u1f00-\u1fff",
    "Devanagari": "\u0900-\u097f\ua8e0-\ua8ff",
    "Bengali": "\u0980-\u09ff",
    "Gurmukhi": "\u0a00-\u0a7f",
    "Gujarati": "\u0a80-\u0aff",
    "Oriya": "\u0b00-\u0b7f",
    "Tamil": "\u0b80-\u0bff",
    "Telugu": "\u0c00-\u0c7f",
    "Kannada": "\u0c80-\u0cff",
    "Malayalam": "\u0d00-\u0d7f",
    "Sinhala": "\u0d80-\u0dff",
    "Georgian": "\u10a0-\u10ff\u1c90-\u1cbf\u2d00-\u2d2f",
    "Armenian": "\u0530-\u058f\ufb13-\ufb17",
    "Ethiopic": "\u1200-\u139f\u2d80-\u2ddf\uab00-\uab2f",
    "Mongolian": "\u1800-\u18af",
}

# The scripts a language is written in. Languages not listed are written in Latin script, or in
# more than one script (Serbian): no script rule for them.
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "ko": ("Hangul", "Han"),  # Han: Hanja, which Korean text still quotes; Hangul is required below
    "ja": ("Kana", "Han"),
    "zh": ("Han",),
    "th": ("Thai",), "lo": ("Lao",), "km": ("Khmer",), "my": ("Myanmar",),
    "ar": ("Arabic",), "fa": ("Arabic",), "ur": ("Arabic",), "ps": ("Arabic",), "ug": ("Arabic",),
    "sd": ("Arabic",),
    "he": ("Hebrew",), "yi": ("Hebrew",),
    "ru": ("Cyrillic",), "uk": ("Cyrillic",), "bg": ("Cyrillic",), "be": ("Cyrillic",),
    "mk": ("Cyrillic",), "kk": ("Cyrillic",), "ky": ("Cyrillic",), "mn": ("Cyrillic", "Mongolian"),
    "el": ("Greek",),
    "hi": ("Devanagari",), "mr": ("Devanagari",), "ne": ("Devanagari",), "sa": ("Devanagari",),
    "bn": ("Bengali",), "as": ("Bengali",),
    "pa": ("Gurmukhi",), "gu": ("Gujarati",), "or": ("Oriya",), "ta": ("Tamil",), "te": ("Telugu",),
    "kn": ("Kannada",), "ml": ("Malayalam",), "si": ("Sinhala",),
    "ka": ("Georgian",), "hy": ("Armenian",), "am": ("Ethiopic",),
}  # fmt: skip

# The script a language's text cannot lack, when it is not simply the first one above: Korean
# written only in Hanja is not modern Korean, so ko needs Hangul. (ja may be all Han in a short
# field, such as a query of two nouns.)
REQUIRED_SCRIPT = {"ko": "Hangul"}

_REQUIRED_RE = {language: re.compile(f"[{SCRIPT_RANGES[s]}]") for language, s in REQUIRED_SCRIPT.items()}


def _word_counter(scripts: tuple[str, ...]) -> re.Pattern[str]:
    r"""One pass over the text: a match per word with a letter; group 1 is non-empty when the word
    holds a character of `scripts`. `(?<!\S)` anchors each match at a word's start, so a word is
    scanned once (twice when it is not in the script) and the pass is linear."""
    ranges = "".join(SCRIPT_RANGES[s] for s in scripts)
    return re.compile(rf"(?<!\S)(?:\S*?([{ranges}])|\S*?[^\W\d_])")


_WORDS_IN = {language: _word_counter(scripts) for language, scripts in LANGUAGE_SCRIPTS.items()}


def script_share(text: str, language: str) -> float | None:
    """Share of the text's words (with a letter) that hold a character of `language`'s scripts;
    0.0 when it has no such word; None when the language has no script rule."""
    counter = _WORDS_IN.get(language)
    if counter is None:
        return None
    words = counter.findall(text)
    if not words:
        return 0.0
    return (len(words) - words.count("")) / len(words)


def wrong_script(text: str, language: str) -> str | None:
    """Why `text` cannot be in `language`, judged by its script alone; None when it can be (or the
    language has no script rule).

    >>> wrong_script("Hello, how are you?", "ru")
    '0% Cyrillic words'
    """
    share = script_share(text, language)
    if share is None:
        return None
    required = REQUIRED_SCRIPT.get(language)
    if required is not None and not _REQUIRED_RE[language].search(text):
        return f"no {required} letters"
    if share < MIN_SCRIPT_SHARE:
        return f"{share:.0%} {'/'.join(LANGUAGE_SCRIPTS[language])} words"
    return None
