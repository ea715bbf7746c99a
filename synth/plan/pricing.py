"""Token prices per model, and token estimates used to plan runs and size `max_tokens`.

Prices are USD per million tokens (input, output) as listed by OpenAI; a `--prices` JSON file or
`--price-in/--price-out` override them. A model with no known price costs 0 and the run says so.
Token estimates are heuristics (no tokenizer download is possible offline): about 4 characters per
token for English prompts, and per-language tokens-per-word for generated text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from synth.plan.languages import UNSPACED

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}

_LATIN = frozenset(
    "af az br bs ca cs cy da de en eo es et eu fi fr fy ga gd gl ha hr hu id is it jv ku la lt lv mg ms "
    "nl no om pl pt ro sk sl so sq su sv sw tl tr uz vi xh".split()
)
_CYRILLIC_GREEK = frozenset("be bg el kk ky mk mn ru sr uk".split())


def tokens_per_word(language: str) -> float:
    """Rough BPE tokens per word (per word-equivalent for unspaced scripts)."""
    if language == "en":
        return 1.35
    if language in _LATIN:
        return 1.9
    if language in _CYRILLIC_GREEK:
        return 2.6
    if language in UNSPACED:
        return 1.8
    return 3.5  # Arabic, Indic and other scripts split into many tokens


def estimate_prompt_tokens(prompt: str) -> int:
    return len(prompt) // 4 + 8  # chat template overhead


@dataclass(frozen=True)
class Price:
    model: str
    input_per_million: float
    output_per_million: float
    known: bool

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


def price_for(
    model: str, prices_file: Path | None = None, price_in: float | None = None, price_out: float | None = None
) -> Price:
    table = dict(PRICES_PER_MILLION)
    if prices_file is not None:
        try:
            loaded = json.loads(prices_file.read_text())
            table.update({k: (float(v[0]), float(v[1])) for k, v in loaded.items()})
        except (OSError, ValueError, TypeError, IndexError, KeyError) as err:
            raise ValueError(
                f'--prices {prices_file}: expected a JSON object {{"model": [usd_in_per_1M, usd_out_per_1M]}} ({err})'
            ) from None
    # "org/gpt-4o-mini-2024-07-18" finds "gpt-4o-mini": the longest table name the model id starts with.
    base = model.rsplit("/", 1)[-1]
    match = max((k for k in table if base == k or base.startswith(k + "-")), key=len, default=None)
    p_in, p_out = table.get(match, (0.0, 0.0)) if match else (0.0, 0.0)
    if price_in is not None:
        p_in = price_in
    if price_out is not None:
        p_out = price_out
    known = match is not None or (price_in is not None and price_out is not None)
    return Price(model, p_in, p_out, known)
