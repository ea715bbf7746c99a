"""Text normalisation and word counting that also work for scripts written without spaces."""

from __future__ import annotations

import re
import unicodedata
import zlib
from functools import lru_cache

from synth.checks.scripts import SCRIPT_RANGES
from synth.plan.languages import UNSPACED

# Average characters per word in scripts without spaces, to turn "at least 300 words" into characters.
CHARS_PER_WORD = {"zh": 1.5, "ja": 2.0, "th": 4.0, "lo": 4.0, "km": 4.0, "my": 3.0}
# The same by script, for text whose language is not known (a brainstormed task definition).
_UNSPACED_SCRIPTS = {"Han": 1.5, "Kana": 2.0, "Thai": 4.0, "Lao": 4.0, "Khmer": 4.0, "Myanmar": 3.0}
_UNSPACED_CHAR = {name: re.compile(f"[{SCRIPT_RANGES[name]}]") for name in _UNSPACED_SCRIPTS}
_UNSPACED_ANY = "".join(SCRIPT_RANGES[name] for name in _UNSPACED_SCRIPTS)
_UNSPACED_RUN = re.compile(rf"(?<!\S)\S*?[{_UNSPACED_ANY}]")  # a space-separated run holding one


@lru_cache(maxsize=1)
def punct_table() -> dict[int, str]:
    """Every punctuation and symbol code point -> a space, for str.translate. Built on first use: the
    scan of all 1.1M code points costs 0.37 s, which every CLI start paid at import before."""
    return {i: " " for i in range(0x110000) if unicodedata.category(chr(i)).startswith(("P", "S"))}


_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)  # validation, dedup and decontamination normalise the same texts of a row
def normalize(text: str) -> str:
    """Case-, width-, punctuation- and whitespace-insensitive form used for exact dedup.

    >>> normalize("  Hello,   WORLD!! ")
    'hello world'
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(punct_table())
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


LOOP_TAIL_CHARS = 1000  # how much of an answer's end is read for a loop
LOOP_MIN_CHARS = 400  # shorter answers are not judged: compression says little about them
LOOP_RATIO = 0.2  # zlib size / text size under which the tail is one phrase over and over


def repeats_itself(text: str) -> bool:
    """Whether the end of `text` is a loop (a weak model repeating one phrase until max_tokens).
    Prose compresses to about half its size with zlib, a list of numbers to 0.4-0.5; SmolLM2-135M's
    loops ("a question about tenancy law, a question about ...") to under 0.05.

    >>> repeats_itself("a question about tenancy law, " * 40)
    True
    >>> repeats_itself("Passages are chunked on paragraph boundaries. " + "A query is short. " * 2)
    False
    """
    tail = text[-LOOP_TAIL_CHARS:].encode("utf-8")
    return len(tail) >= LOOP_MIN_CHARS and len(zlib.compress(tail, 9)) < LOOP_RATIO * len(tail)
