"""Text normalisation and word counting that also work for scripts written without spaces."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from synth.languages import UNSPACED

# Average characters per word in scripts without spaces, to turn "at least 300 words" into characters.
CHARS_PER_WORD = {"zh": 1.5, "ja": 2.0, "th": 4.0, "lo": 4.0, "km": 4.0, "my": 3.0}

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
