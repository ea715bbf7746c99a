"""Exact cosine top-k of each query among a pool of texts, minus its positive and probable false negatives.

Works in (query_chunk x pool_chunk) blocks, so the full (queries x pool) score matrix never exists;
memory is one block plus the running top-k per query. Worked example (rows are unit vectors):

    queries [[1, 0]], pool [[1, 0], [0.96, 0.28], [0.6, 0.8], [0, 1]], own [0], k 2,
    Guard("relative", 0.95): the positive scores 1.0; pool item 1 scores 0.96 > 0.95 * 1.0, so it is
    skipped as a probable false negative -> index [[2, 3]], score [[0.6, 0.0]], rank [1], skipped [1]

Not handled: approximate indexes (FAISS, HNSW); a pool of a few hundred thousand texts per group is
fine for exact search on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GUARDS = ("relative", "margin", "none")
GUARD_DEFAULTS = {"relative": 0.95, "margin": 0.05, "none": 0.0}


@dataclass(frozen=True)
class Guard:
    """Which candidates count as too close to the positive to be a true negative (NV-Retriever, 2024).

    relative: score > value * positive's score (their TopK-PercPos, 0.95); margin: score > positive's
    score - value (TopK-MarginPos); none: keep every candidate.
    """

    mode: str = "relative"
    value: float = GUARD_DEFAULTS["relative"]

    def __post_init__(self) -> None:
        if self.mode not in GUARDS:
            raise ValueError(f"--guard: {self.mode!r} is not one of {', '.join(GUARDS)}")
        if self.mode == "relative" and not 0 < self.value <= 1:
            raise ValueError(f"--guard-value: a relative guard needs a ratio in (0, 1], got {self.value}")
        if self.mode == "margin" and self.value < 0:
            raise ValueError(f"--guard-value: a margin guard needs a value >= 0, got {self.value}")

    def threshold(self, positive: np.ndarray) -> np.ndarray:
        """(Q,) positive scores -> (Q,) scores above which a candidate is skipped."""
        if self.mode == "relative":
            return self.value * positive
        if self.mode == "margin":
            return positive - self.value
        return np.full_like(positive, np.inf)


@dataclass
class Neighbours:
    index: np.ndarray  # (Q, k) pool rows, best first; -1 where fewer than k candidates survived
    score: np.ndarray  # (Q, k) their cosine scores; -inf where index is -1
    positive: np.ndarray  # (Q,) cosine of each query with its own positive
    rank: np.ndarray  # (Q,) 1-based rank of the own positive among the pool minus excluded items
    skipped: np.ndarray  # (Q,) candidates the guard skipped as probable false negatives


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_negatives(
    queries: np.ndarray,
    pool: np.ndarray,
    own: np.ndarray,
    exclude: Sequence[Sequence[int]],
    k: int,
    guard: Guard,
    query_chunk: int = 1024,
    pool_chunk: int = 16384,
) -> Neighbours:
    """(Q, H) queries, (P, H) pool, (Q,) own positive rows, per-query rows never to return -> Neighbours.

    `exclude[i]` lists pool rows that are not negatives of query i whatever their score (the query's
    own text, positives of the same query in other rows); they neither count in the rank nor get skipped.
    """
    assert queries.shape[0] == len(own) == len(exclude), "one own positive and exclude list per query"
    assert queries.shape[1] == pool.shape[1], f"dims differ: {queries.shape[1]} vs {pool.shape[1]}"
    queries, pool, own = unit(queries), unit(pool), np.asarray(own, dtype=np.int64)
    n_q = queries.shape[0]
    out = Neighbours(
        index=np.full((n_q, k), -1, dtype=np.int64),
        score=np.full((n_q, k), -np.inf, dtype=np.float32),
        positive=np.einsum("qh,qh->q", queries, pool[own]),
        rank=np.ones(n_q, dtype=np.int64),
        skipped=np.zeros(n_q, dtype=np.int64),
    )
    for q0 in range(0, n_q, query_chunk):
        q1 = min(q0 + query_chunk, n_q)
        ex_rows, ex_cols = _exclusions(own[q0:q1], exclude[q0:q1])
        positive = out.positive[q0:q1, None]  # (q, 1)
        limit = guard.threshold(out.positive[q0:q1])[:, None]  # (q, 1)
        best_s, best_i = out.score[q0:q1], out.index[q0:q1]
        for p0 in range(0, pool.shape[0], pool_chunk):
            scores = queries[q0:q1] @ pool[p0 : p0 + pool_chunk].T  # (q, c)
            hit = (ex_cols >= p0) & (ex_cols < p0 + scores.shape[1])
            scores[ex_rows[hit], ex_cols[hit] - p0] = -np.inf
            out.rank[q0:q1] += (scores > positive).sum(axis=1)
            too_close = scores > limit  # (q, c), never true for excluded items (-inf)
            out.skipped[q0:q1] += too_close.sum(axis=1)
            scores[too_close] = -np.inf
            best_s, best_i = _merge_top_k(best_s, best_i, scores, p0, k)
        out.score[q0:q1], out.index[q0:q1] = _sorted(best_s, best_i)
    return out


def _exclusions(own: np.ndarray, exclude: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat (row-in-chunk, pool row) pairs to mask, the own positive always among them."""
    rows = [np.full(len(ex) + 1, i, dtype=np.int64) for i, ex in enumerate(exclude)]
    cols = [np.concatenate([[o], np.asarray(ex, dtype=np.int64)]) for o, ex in zip(own, exclude, strict=True)]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows), np.concatenate(cols).astype(np.int64)


def _merge_top_k(best_s, best_i, scores, offset: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Running (q, k) top-k merged with one (q, c) block of scores -> (q, k)."""
    cols = np.broadcast_to(np.arange(offset, offset + scores.shape[1]), scores.shape)
    cand_s = np.concatenate([best_s, scores], axis=1)  # (q, k + c)
    cand_i = np.concatenate([best_i, cols], axis=1)
    top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]  # (q, k), unordered
    return np.take_along_axis(cand_s, top, axis=1), np.take_along_axis(cand_i, top, axis=1)


def _sorted(best_s: np.ndarray, best_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best first, equal scores by pool row; -1 where nothing survived."""
    order = np.lexsort((best_i, -best_s), axis=1)
    score = np.take_along_axis(best_s, order, axis=1)
    index = np.where(np.isneginf(score), -1, np.take_along_axis(best_i, order, axis=1))
    return score, index
