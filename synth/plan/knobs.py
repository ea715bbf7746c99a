"""The paper's knobs and their value sets, sampled per step-2 call (which task type takes which knob
is declared in `synth.plan.tasks`).

Every call gets its own `random.Random` seeded by (run seed, call index), so call 17 of a run always
gets the same knobs, whatever order calls finish in and however often the run is resumed.
"""

from __future__ import annotations

import random
from itertools import accumulate

QUERY_TYPES = ("extremely long-tail", "long-tail", "common")
QUERY_LENGTHS = ("less than 5 words", "5 to 15 words", "at least 10 words")
CLARITY = ("clear", "understandable with some effort", "ambiguous")
RETRIEVAL_NUM_WORDS = (50, 100, 200, 300, 400, 500)
CLASSIFICATION_NUM_WORDS = ("less than 10", "at least 10", "at least 50", "at least 100", "at least 200")
DIFFICULTY_ASYMMETRIC = ("high school", "college", "PhD")
DIFFICULTY_SYMMETRIC = ("elementary school", "high school", "college")
UNITS = ("sentence", "phrase", "passage")
HIGH_SCORES = (4, 4.5, 5)
LOW_SCORES_STS = (2.5, 3, 3.5)
LOW_SCORES_BITEXT = (1.5, 2, 2.5)
LONG_LONG_MIN_WORDS = 300


def call_rng(seed: int, stream: str, index: int) -> random.Random:
    """A generator private to one call. String seeds are hashed with SHA-512 by `random`, so the
    sequence does not depend on PYTHONHASHSEED or on the platform."""
    return random.Random(f"{seed}:{stream}:{index}")


class WeightedChoice:
    """rng-driven weighted choice with the cumulative weights computed once."""

    def __init__(self, weights: dict[str, float]):
        self.items = list(weights)
        self.cum = list(accumulate(weights.values()))

    def __call__(self, rng: random.Random, exclude: str | None = None) -> str:
        if exclude is None:
            return rng.choices(self.items, cum_weights=self.cum)[0]
        rest = {k: w for k, w in zip(self.items, _weights(self.cum), strict=True) if k != exclude}
        return rng.choices(list(rest), weights=list(rest.values()))[0]


def _weights(cum: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *cum[:-1]], cum, strict=True)]


# What the unit of an sts or bitext triple, and a short_short "very short" text, come to in words.
# The prompts ask no number, so these are maxima we read into them (a "phrase" of 200 words ignored
# the request), and no minima: the sts prompt asks to vary the lengths.
UNIT_MAX_WORDS = {"phrase": 40, "sentence": 80, "passage": 400}
UNIT_TYPICAL_WORDS = {"phrase": 6, "sentence": 20, "passage": 120}  # for token estimates
SHORT_SHORT_MAX_WORDS = 60
