"""Exact cosine top-k of each query among a pool of texts, minus its positive and probable false negatives.

Works in (query_chunk x pool_chunk) blocks, so the full (queries x pool) score matrix never exists;
memory is one block plus the running top-k per query. Worked example (rows are unit vectors):

    queries [[1, 0]], pool [[1, 0], [0.96, 0.28], [0.6, 0.8], [0, 1]], own [0], k 2,
    Guard("relative", 0.95): the positive scores 1.0; pool item 1 scores 0.96 > 0.95 * 1.0, so it is
    skipped as a probable false negative -> index [[2, 3]], score [[0.6, 0.0]], rank [1], skipped [1]

Not handled: approximate indexes (FAISS, HNSW). Exact search costs Q x P x H multiply-adds per group:
seconds on a GPU for groups of 100k rows, minutes on a CPU.
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
        """(Q,) positive scores (numpy or torch) -> (Q,) scores above which a candidate is skipped."""
        if self.mode == "relative":
            return self.value * positive
        if self.mode == "margin":
            return positive - self.value
        return positive + np.inf


@dataclass
class Neighbours:
    index: np.ndarray  # (Q, k) pool rows, best first; -1 where fewer than k candidates survived
    score: np.ndarray  # (Q, k) their cosine scores; -inf where index is -1
    positive: np.ndarray  # (Q,) cosine of each query with its own positive
    rank: np.ndarray  # (Q,) 1-based rank of the own positive among the pool minus excluded items
    skipped: np.ndarray  # (Q,) candidates the guard skipped as probable false negatives


def nearest_negatives(
    queries: np.ndarray,
    pool: np.ndarray,
    own: np.ndarray,
    exclude: Sequence[Sequence[int]],
    k: int,
    guard: Guard,
    device: str = "cpu",
    query_chunk: int = 1024,
    pool_chunk: int = 16384,
) -> Neighbours:
    """(Q, H) queries, (P, H) pool, (Q,) own positive rows, per-query rows never to return -> Neighbours.

    `exclude[i]` lists pool rows that are not negatives of query i whatever their score (the query's
    own text, positives of the same query in other rows); they neither count in the rank nor get
    skipped. Runs on `device` with torch (present wherever a sentence-transformers model is).
    """
    import torch

    assert queries.shape[0] == len(own) == len(exclude), "one own positive and exclude list per query"
    assert queries.shape[1] == pool.shape[1], f"dims differ: {queries.shape[1]} vs {pool.shape[1]}"
    q_all, pool_t = _unit(queries, device), _unit(pool, device)  # (Q, H), (P, H)
    own_t = torch.as_tensor(np.asarray(own), dtype=torch.long, device=device)
    positive = (q_all * pool_t[own_t]).sum(dim=1)  # (Q,)
    limit = guard.threshold(positive)  # (Q,)
    parts = []
    for q0 in range(0, q_all.shape[0], query_chunk):
        q1 = min(q0 + query_chunk, q_all.shape[0])
        ex_rows, ex_cols = (
            torch.as_tensor(a, device=device) for a in _exclusions(own[q0:q1], exclude[q0:q1])
        )
        pos, lim = positive[q0:q1, None], limit[q0:q1, None]  # (q, 1)
        best_s = torch.full((q1 - q0, k), -torch.inf, device=device)  # (q, k) running top-k
        best_i = torch.full((q1 - q0, k), -1, dtype=torch.long, device=device)
        rank = torch.ones(q1 - q0, dtype=torch.long, device=device)
        skipped = torch.zeros(q1 - q0, dtype=torch.long, device=device)
        for p0 in range(0, pool_t.shape[0], pool_chunk):
            scores = q_all[q0:q1] @ pool_t[p0 : p0 + pool_chunk].T  # (q, c)
            hit = (ex_cols >= p0) & (ex_cols < p0 + scores.shape[1])
            scores[ex_rows[hit], ex_cols[hit] - p0] = -torch.inf
            rank += (scores > pos).sum(dim=1)
            too_close = scores > lim  # (q, c), never true for excluded items (-inf)
            skipped += too_close.sum(dim=1)
            scores.masked_fill_(too_close, -torch.inf)
            # Merge this block's top-k with the running top-k: (q, k + k') -> (q, k).
            top_s, top_i = scores.topk(min(k, scores.shape[1]), dim=1)
            cand_s, cand_i = torch.cat([best_s, top_s], dim=1), torch.cat([best_i, top_i + p0], dim=1)
            best_s, keep = cand_s.topk(k, dim=1)
            best_i = cand_i.gather(1, keep)
        parts.append((*_sorted(best_s, best_i), rank, skipped))
    index, score, rank, skipped = (torch.cat([p[j] for p in parts]).cpu().numpy() for j in range(4))
    return Neighbours(index, score, positive.cpu().numpy(), rank, skipped)


def _unit(x: np.ndarray, device: str):
    import torch

    return torch.nn.functional.normalize(torch.as_tensor(np.asarray(x), device=device).float(), dim=-1)


def _exclusions(own: np.ndarray, exclude: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat (row-in-chunk, pool row) pairs to mask, the own positive always among them."""
    rows = [np.full(len(ex) + 1, i, dtype=np.int64) for i, ex in enumerate(exclude)]
    cols = [np.concatenate([[o], np.asarray(ex, dtype=np.int64)]) for o, ex in zip(own, exclude, strict=True)]
    return np.concatenate(rows), np.concatenate(cols).astype(np.int64)


def _sorted(best_s, best_i):
    """Best first, equal scores by pool row; -1 where nothing survived. (q, k) tensors -> (index, score)."""
    by_row = best_i.argsort(dim=1, stable=True)
    best_s, best_i = best_s.gather(1, by_row), best_i.gather(1, by_row)
    by_score = best_s.argsort(dim=1, descending=True, stable=True)
    score, index = best_s.gather(1, by_score), best_i.gather(1, by_score)
    return index.masked_fill(score.isneginf(), -1), score
