"""Text normalisation and word counting that also work for scripts written without spaces."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from synth.plan.languages import UNSPACED
from synth.checks.scripts import SCRIPT_RANGES

# Average characters per word in scripts without spaces, to turn "at least 300 words" into characters.
CHARS_PER_WORD = {"zh": 1.5, "ja": 2.0, "th": 4.0, "lo": 4.0, "km": 4.0, "my": 3.0}
# The same by script, for text whose language is not known (a brainstormed task definition).
_UNSPACED_SCRIPTS = {"Han": 1.5, "Kana": 2.0, "Thai": 4.0, "Lao": 4.0, "Khmer": 4.0, "Myanmar": 3.0}
_UNSPACED_CHAR = {name: re.compile(f"[{SCRIPT_RANGES[name]}]") for name in _UNSPACED_SCRIPTS}
_UNSPACED_ANY = "".join(SCRIPT_RANGES[name] for name in _UNSPACED_SCRIPTS)
_UNSPACED_RUN = re.compile(rf"(?<!\S)\S*?[{_UNSPACED_ANY}]")  # a space-separated run holding one

_PUNCT = {i for i in range(0x110000) if unicodedata.category(chr(i)).startswith(("P", "S"))}
_PUNCT_TABLE = dict.fromkeys(_PUNCT, " ")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)  # validation, dedup and decontamination normalise the same texts of a row
def normalize(text: str) -> str:
    """Case-, width-, punctuation- and whitespace-insensitive form used for exact dedup.

    >>> normalize("  Hello,   WORLD!! ")
    'hello world'
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_PUNCT_TABLE)
    return _SPACES.sub(" ", text).strip()


def count_words(text: str, language: str) -> float:
    """Words in `text`; for unspaced scripts, characters divided by the script's average word length."""
    if language in UNSPACED:
        chars = len(_SPACES.sub("", text))
        return chars / CHARS_PER_WORD[language]
    return len(text.split())


def count_words_any(text: str) -> float:
    """Words in `text` of unknown language: a space-separated run counts 1, unless it holds
    characters of a script written without spaces, which count as in `count_words`.

    >>> count_words_any("Given a claim, find evidence.")
    5
    >>> count_words_any("给定一个科学论断，检索相关文献。")  # 14 Han characters / 1.5
    9.333333333333334
    """
    runs = len(_UNSPACED_RUN.findall(text))
    if not runs:
        return len(text.split())
    unspaced = sum(
        len(pattern.findall(text)) / _UNSPACED_SCRIPTS[name] for name, pattern in _UNSPACED_CHAR.items()
    )
    return len(text.split()) - runs + unspaced
