"""A row's candidate documents in one stated order: what ``teacher_scores`` are aligned with.

``synth.mine --teacher`` writes one teacher score per candidate of a row; ``train.lora --loss kd``
and ``--loss margin_mse`` read them back. Both sides take the order from here, so it is written once:

    CANDIDATE_ORDER = "positive,negative,mined_negatives"

    row = {"positive": "P", "negative": "N", "mined_negatives": ["M1", "M2"], ...}
    candidate_texts(row)  -> ["P", "N", "M1", "M2"]      teacher_scores: [s_P, s_N, s_M1, s_M2]
    row with negative null (or "") and mined ["M1"] -> ["P", "M1"]
    row with neither                              -> ["P"]

Index 0 is always the positive. The written ``negative`` counts when it is a non-empty string (the
rule train applies: an empty negative is no negative); ``mined_negatives`` count as written, in
their stored order (synth.mine's best first), repeats and all, so that a score's index is the
text's index in this list and nothing has to be deduplicated identically on both sides.

The dataset's ``stats.json`` and card name the teacher under ``TEACHER_STATS_KEY``:

    "teacher": {"model": "cross-encoder/ms-marco-MiniLM-L6-v2", "kind": "cross-encoder",
                "candidate_order": "positive,negative,mined_negatives"}

This module is plain Python (no torch, no pyarrow), so every stage can import it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

TEACHER_SCORES = "teacher_scores"  # the column: list[float], one per candidate_texts(row)
TEACHER_STATS_KEY = "teacher"  # stats.json / card section naming the teacher and the order
CANDIDATE_ORDER = "positive,negative,mined_negatives"


def candidate_texts(row: Mapping[str, Any]) -> list[str]:
    """The row's candidates in CANDIDATE_ORDER: positive, the written negative if any, mined negatives."""
    out = [row["positive"]]
    negative = row.get("negative")
    if isinstance(negative, str) and negative.strip():
        out.append(negative)
    out.extend(row.get("mined_negatives") or ())
    return out


def score_problem(row: Mapping[str, Any]) -> str | None:
    """What is wrong with the row's ``teacher_scores`` (None: fine, or absent).

    Scores must be a list of finite numbers, exactly one per :func:`candidate_texts` entry.
    """
    scores = row.get(TEACHER_SCORES)
    if scores is None:
        return None
    if isinstance(scores, str | bytes) or not isinstance(scores, Sequence):
        return f"field {TEACHER_SCORES!r} must be a list of numbers, got {type(scores).__name__}"
    if not all(isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) for s in scores):
        return f"field {TEACHER_SCORES!r} must hold finite numbers only"
    want = len(candidate_texts(row))
    if len(scores) != want:
        return (
            f"field {TEACHER_SCORES!r} has {len(scores)} scores but the row has {want} candidates "
            f"({CANDIDATE_ORDER})"
        )
    return None


def scores_by_text(row: Mapping[str, Any]) -> dict[str, float]:
    """Candidate text -> its teacher score (the first score where a text repeats); {} without scores."""
    scores = row.get(TEACHER_SCORES)
    if scores is None:
        return {}
    out: dict[str, float] = {}
    for text, score in zip(candidate_texts(row), scores, strict=True):
        out.setdefault(text, float(score))
    return out
