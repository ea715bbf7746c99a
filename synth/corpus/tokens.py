"""Token counts of passages, estimated: no tokenizer can be downloaded where corpora are chunked.

The estimate aims at Mistral/Llama-style byte-level BPE vocabularies and errs high, so a passage
chunked to a budget fits a model's `--max-length` of the same size:

    tokens ~= dense + max(1.3 * words, UTF-8 bytes of the other non-space characters / 4)

- `dense`: characters of scripts written without spaces or with one syllable per character (Han,
  Kana, Hangul, Thai, Lao, Khmer, Myanmar) count one token each; such vocabularies rarely merge
  them further.
- `1.3 * words`: English prose runs at about 1.3 tokens per whitespace-separated word.
- `bytes / 4`: long words, URLs, code and other scripts (a Cyrillic letter is 2 bytes, a Devanagari
  one 3) are split finer than words; byte-level BPE averages about 4 bytes per token on them.

    >>> estimate_tokens("The quick brown fox jumps.")  # 5 words * 1.3 = 6.5
    7
    >>> estimate_tokens("给定一个科学论断，检索相关文献。")  # 14 Han + the two marks: max(1.3, 6 bytes / 4)
    16

The estimate is subadditive (the estimate of two texts joined never exceeds the sum of theirs),
which is what lets the chunker pack pieces by summing their counts. A real tokenizer may be plugged
in as `count_tokens` (`lambda s: len(tok(s, add_special_tokens=False).input_ids)`); the chunker then
checks every passage with it once more, since tokens at a join may merge or split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from synth.checks.scripts import SCRIPT_RANGES

TokenCounter = Callable[[str], int]

TOKENS_PER_WORD = 1.3  # English prose with a Llama/Mistral vocabulary
BYTES_PER_TOKEN = 4.0  # byte-level BPE on code, URLs and scripts other than Latin
DENSE_SCRIPTS = ("Han", "Kana", "Hangul", "Thai", "Lao", "Khmer", "Myanmar")  # one token per character
DENSE_CHARS = "".join(SCRIPT_RANGES[name] for name in DENSE_SCRIPTS)  # regex class body
_DENSE = re.compile(f"[{DENSE_CHARS}]")


def estimate(text: str) -> float:
    """The unrounded estimate (see the module docstring); the chunker sums these."""
    if text.isascii():  # fast path: most corpora are mostly ASCII, and its bytes are its characters
        words = text.split()
        return max(TOKENS_PER_WORD * len(words), sum(map(len, words)) / BYTES_PER_TOKEN)
    rest, dense = _DENSE.subn("", text)
    words = rest.split()
    return dense + max(TOKENS_PER_WORD * len(words), len("".join(words).encode()) / BYTES_PER_TOKEN)


def estimate_tokens(text: str) -> int:
    """The estimate rounded up: what `count_tokens` defaults to."""
    return math.ceil(estimate(text))
