"""Exact cosine top-k search in chunks, so the full (queries x corpus) score matrix never exists.

Memory at any time is one (query_chunk x corpus_chunk) block of scores plus the running top-k
(Q, k) per query; the corpus embeddings may be a read-only memmap from :mod:`eval.cache`.

    q = [[1, 0]], docs = [[1, 0], [0, 1], [1, 1]], ids = ["a", "b", "c"], k = 2
    search(q, docs, ids, k=2) -> [{"a": 1.0, "c": 0.7071}]

Not handled: approximate indexes (FAISS, HNSW); use mteb's search backends for those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _unit(x: torch.Tensor) -> torch.Tensor:
    # Inputs are copied (torch.tensor), not wrapped: cached corpora are read-only memmaps.
    return torch.nn.functional.normalize(x.float(), p=2, dim=-1)


def search(
    queries: np.ndarray,
    corpus: np.ndarray,
    corpus_ids: Sequence[str],
    k: int,
    corpus_chunk: int = 16384,
    query_chunk: int = 1024,
) -> list[dict[str, float]]:
    """Top-k corpus ids and cosine scores per query. (Q, H), (N, H) -> Q dicts of <= k items."""
    assert corpus.shape[0] == len(corpus_ids), f"{corpus.shape[0]} embeddings for {len(corpus_ids)} ids"
    assert queries.shape[1] == corpus.shape[1], f"dims differ: {queries.shape[1]} vs {corpus.shape[1]}"
    n_q, k = queries.shape[0], min(k, corpus.shape[0])
    best_s = torch.full((n_q, k), -float("inf"))  # (Q, k) running top-k scores
    best_i = torch.zeros((n_q, k), dtype=torch.long)  # (Q, k) their corpus rows
    q_all = _unit(torch.tensor(np.asarray(queries)))  # (Q, H)
    for c0 in range(0, corpus.shape[0], corpus_chunk):
        docs = _unit(torch.tensor(np.asarray(corpus[c0 : c0 + corpus_chunk])))  # (C, H)
        for q0 in range(0, n_q, query_chunk):
            sims = q_all[q0 : q0 + query_chunk] @ docs.T  # (q, C)
            top_s, top_i = sims.topk(min(k, sims.shape[1]), dim=1)  # (q, k')
            # Merge this chunk's top-k with the running top-k: (q, k + k') -> (q, k).
            cand_s = torch.cat([best_s[q0 : q0 + query_chunk], top_s], dim=1)
            cand_i = torch.cat([best_i[q0 : q0 + query_chunk], top_i + c0], dim=1)
            keep_s, keep = cand_s.topk(k, dim=1)
            best_s[q0 : q0 + query_chunk] = keep_s
            best_i[q0 : q0 + query_chunk] = cand_i.gather(1, keep)
    return [
        {corpus_ids[i]: float(s) for s, i in zip(row_s, row_i, strict=True) if s > -float("inf")}
        for row_s, row_i in zip(best_s.tolist(), best_i.tolist(), strict=True)
    ]
