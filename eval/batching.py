"""Length-sorted batches under a token budget: little padding, bounded memory.

Inputs are sorted longest first by token count, then cut greedily into batches of at most
``batch_size`` texts whose padded size (count x longest member) stays within ``max_tokens``:

    plan_batches([5, 100, 7, 90, 6], batch_size=4, max_tokens=200)
    -> [[1, 3], [2, 4, 0]]       # 2 x 100 <= 200; then 7, 6, 5 (3 x 7 = 21)

A text longer than the budget still gets a batch of its own. ``max_tokens=None`` keeps fixed-size
batches; ``sort=False`` keeps input order (what the benchmark compares against).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None, sort: bool = True
) -> list[np.ndarray]:
    """Index arrays, one per batch, covering every input exactly once."""
    assert batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"
    order = np.argsort(-np.asarray(lengths), kind="stable") if sort else np.arange(len(lengths))
    if max_tokens is None or not sort:
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)  # sorted: the first member is the longest
        n = max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start : start + n])
        start += n
    return batches
