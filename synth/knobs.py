"""The paper's knobs and their value sets, sampled per step-2 call.

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


def sample_knobs(task_type: str, rng: random.Random, languages: WeightedChoice) -> dict:
    """Knobs for one step-2 call; language values are ISO codes."""
    lang = languages(rng)
    if task_type == "retrieval":
        return {
            "language": lang,
            "query_type": rng.choice(QUERY_TYPES),
            "query_length": rng.choice(QUERY_LENGTHS),
            "clarity": rng.choice(CLARITY),
            "num_words": rng.choice(RETRIEVAL_NUM_WORDS),
            "difficulty": rng.choice(DIFFICULTY_ASYMMETRIC),
        }
    if task_type == "classification":
        return {
            "language": lang,
            "num_words": rng.choice(CLASSIFICATION_NUM_WORDS),
            "clarity": rng.choice(CLARITY),
            "difficulty": rng.choice(DIFFICULTY_ASYMMETRIC),
        }
    if task_type in ("short_short", "long_long"):
        return {"language": lang}
    if task_type == "sts":
        return {
            "language": lang,
            "unit": rng.choice(UNITS),
            "high_score": rng.choice(HIGH_SCORES),
            "low_score": rng.choice(LOW_SCORES_STS),
            "difficulty": rng.choice(DIFFICULTY_SYMMETRIC),
        }
    if task_type == "bitext":
        return {
            "language": lang,
            "target_language": languages(rng, exclude=lang),
            "unit": rng.choice(UNITS),
            "high_score": rng.choice(HIGH_SCORES),
            "low_score": rng.choice(LOW_SCORES_BITEXT),
            "difficulty": rng.choice(DIFFICULTY_SYMMETRIC),
        }
    raise ValueError(f"unknown task type {task_type!r}")


# What the unit of an sts or bitext triple, and a short_short "very short" text, come to in words.
# The prompts ask no number, so these are maxima we read into them (a "phrase" of 200 words ignored
# the request), and no minima: the sts prompt asks to vary the lengths.
UNIT_MAX_WORDS = {"phrase": 40, "sentence": 80, "passage": 400}
SHORT_SHORT_MAX_WORDS = 60


def requested_lengths(task_type: str, knobs: dict) -> dict[str, tuple[int, int | None]]:
    """The long fields of an answer and the words the prompt asked of each: {field: (minimum,
    maximum)}, the minimum 1 where the prompt asks none, the maximum None where it asks none.
    Queries and labels are not long fields. What each template asks:

    - retrieval: "Every document is at least {num_words} words long": both documents.
    - classification: 'The "input_text" is {num_words} words long': "less than N" or "at least N".
    - long_long: 'Both the "input" and the "positive_document" are long documents of at least 300
      words'.
    - short_short: both "very short (a sentence or a phrase)": at most SHORT_SHORT_MAX_WORDS.
    - sts, bitext: a triple of {unit}s: S1, S2 and S3 each at most UNIT_MAX_WORDS[unit].

    >>> requested_lengths("retrieval", {"num_words": 100})
    {'positive_document': (100, None), 'hard_negative_document': (100, None)}
    >>> requested_lengths("classification", {"num_words": "less than 10"})
    {'input_text': (1, 10)}
    """
    if task_type == "retrieval":
        n = int(knobs["num_words"])
        return {"positive_document": (n, None), "hard_negative_document": (n, None)}
    if task_type == "classification":
        spec = knobs["num_words"]
        n = int(spec.split()[-1])
        return {"input_text": (1, n) if spec.startswith("less") else (n, None)}
    if task_type == "long_long":
        return {"input": (LONG_LONG_MIN_WORDS, None), "positive_document": (LONG_LONG_MIN_WORDS, None)}
    if task_type == "short_short":
        return {"input": (1, SHORT_SHORT_MAX_WORDS), "positive_document": (1, SHORT_SHORT_MAX_WORDS)}
    if task_type in ("sts", "bitext"):
        high = UNIT_MAX_WORDS[knobs["unit"]]
        return {"S1": (1, high), "S2": (1, high), "S3": (1, high)}
    raise ValueError(f"unknown task type {task_type!r}")


def requested_words(task_type: str, knobs: dict) -> tuple[int, int | None]:
    """(minimum, maximum) words asked of the main text (the positive, or the input of
    classification), for max_tokens and cost estimates.

    >>> requested_words("classification", {"num_words": "less than 10"})
    (1, 10)
    """
    main = {"classification": "input_text", "sts": "S2", "bitext": "S2"}.get(task_type, "positive_document")
    return requested_lengths(task_type, knobs)[main]


def field_language(task_type: str, field: str, knobs: dict) -> str:
    """The language a field was asked in: bitext's translations S2 and S3 are in the target."""
    if task_type == "bitext" and field in ("S2", "S3"):
        return knobs["target_language"]
    return knobs["language"]
