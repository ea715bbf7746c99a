"""Retrieval with a ``--heads`` model's three representations: ``eval.retrieval --mode dense,sparse,colbert,hybrid``.

One forward pass per text gives all of them (:mod:`train.heads`, the functions training used):

- **dense**: exact cosine top-k (:mod:`eval.search`), as ``--mode dense`` alone does;
- **sparse**: an exact inverted index over the corpus's lexical weights: the corpus is a (V, N)
  matrix of postings (for each vocabulary id, the documents that have it and their weights, a
  CSR matrix), and a query's scores are the sum over its ids of its weight times each posting's
  weight, i.e. sum over shared ids of w_q * w_d for every document at once; documents that share
  no id with the query score 0 and are not retrieved, as with BM25;
- **colbert**: the dense top ``rerank_k`` candidates (the whole corpus when it has no more
  documents) re-scored by late interaction (mean over query tokens of the best dot product with a
  document token), multi-vectors stored as float16 (tokens x dims x 2 bytes);
- **hybrid**: the union of the dense and the sparse top ``rerank_k``, each candidate scored by
  all heads exactly and ranked by w_dense s_dense + w_sparse s_sparse + w_colbert s_colbert
  (M3's fusion; default weights 1, 0.3, 1 as in training).

Each mode reports its own search seconds and the size of the index it reads; encoding (all heads
in one pass) is timed once. Not handled: approximate or on-disk indexes; the embedding cache
(every run encodes).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from eval.beir import RetrievalData
from eval.encoder import Encoder
from eval.errors import EvalError
from eval.metrics import retrieval_scores
from eval.search import search
from train.embedder import Heads, colbert_scores, last_hidden_state, pool

log = logging.getLogger(__name__)
MODES = ("dense", "sparse", "colbert", "hybrid")
NEEDS = {"dense": ("dense",), "sparse": ("sparse",), "colbert": ("dense", "colbert"), "hybrid": ("dense",)}


def parse_modes(text: str) -> tuple[str, ...]:
    """``"dense,hybrid"`` -> ("dense", "hybrid"); ``"all"`` -> MODES; EvalError names a bad one."""
    names = list(MODES) if text.strip() == "all" else [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in MODES]
    if bad or not names:
        raise EvalError(f"--mode {text!r}: expected a comma list of {', '.join(MODES)} (or all)")
    return tuple(dict.fromkeys(names))


def parse_fusion_weights(text: str) -> dict[str, float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0:
        raise EvalError(
            f"--weights {text!r}: expected three numbers >= 0 for dense,sparse,colbert, e.g. 1,0.3,1"
        )
    return dict(zip(("dense", "sparse", "colbert"), values, strict=True))


@dataclass
class Reps:
    """A text set's representations in index form."""

    dense: np.ndarray  # (N, H) float32
    sparse: object | None = None  # scipy.sparse.csr_matrix (N, V) float32 lexical weights
    colbert: list[np.ndarray] = field(default_factory=list)  # N arrays (T_i, D) float16

    def nbytes(self, mode: str) -> int:
        dense = self.dense.nbytes
        sparse = (
            0
            if self.sparse is None
            else self.sparse.data.nbytes + self.sparse.indices.nbytes + self.sparse.indptr.nbytes
        )
        colbert = sum(v.nbytes for v in self.colbert)
        return {
            "dense": dense,
            "sparse": sparse,
            "colbert": dense + colbert,
            "hybrid": dense + sparse + colbert,
        }[mode]


def load_heads_for(encoder: Encoder) -> Heads:
    """The heads saved beside ``encoder``'s model dir (EvalError when it has none)."""
    from train.embedder import heads_info, load_heads

    info = heads_info(encoder.spec.path, encoder.tokenizer, encoder.model.config)
    if info is None:
        raise EvalError(
            f"--model {encoder.spec.path}: no sparse/colbert heads (sparse_linear.pt, colbert_linear.pt); "
            "train with --heads dense,sparse,colbert or use --mode dense"
        )
    return load_heads(encoder.spec.path, info, encoder.model.config.hidden_size).to(encoder.device)


def check_modes(modes: Sequence[str], heads: Heads) -> None:
    for mode, head in (("sparse", "sparse"), ("colbert", "colbert")):
        if mode in modes and head not in heads.heads:
            raise EvalError(f"--mode {mode}: the model has no {head} head (it has {', '.join(heads.heads)})")


def encode_reps(encoder: Encoder, heads: Heads, texts: Sequence[str], instruction: str | None = None) -> Reps:
    """All heads' representations of ``texts`` in one pass (dense as :meth:`Encoder.encode` gives it)."""
    from scipy.sparse import csr_matrix

    inputs = encoder.format(texts, instruction)
    dense: np.ndarray | None = None
    rows: list[tuple[np.ndarray, np.ndarray]] = [None] * len(inputs)  # type: ignore[list-item]
    vecs: list[np.ndarray] = [None] * len(inputs)  # type: ignore[list-item]
    for idx in tqdm(
        encoder._batches(inputs),
        desc=f"encode {len(inputs)} texts",
        disable=not encoder.show_progress,
        leave=False,
    ):
        batch = {k: v.to(encoder.device) for k, v in encoder.tokenize([inputs[i] for i in idx]).items()}
        with torch.inference_mode():
            hidden = last_hidden_state(encoder.model, batch)  # (B, T, H)
            emb = pool(hidden, batch["attention_mask"], encoder.spec.pooling).float()  # (B, H), as embed
            emb = F.normalize(emb, p=2, dim=-1) if encoder.spec.normalize else emb
            lex, colbert, mask = heads(hidden, batch)
        if dense is None:
            dense = np.empty((len(inputs), emb.shape[1]), dtype=np.float32)
        dense[idx] = emb.cpu().numpy()
        for j, i in enumerate(idx):
            if lex is not None:
                ids = lex[j].nonzero().squeeze(-1)
                rows[i] = (ids.cpu().numpy(), lex[j, ids].cpu().numpy().astype(np.float32))
            if colbert is not None:
                vecs[i] = colbert[j][mask[j].bool()].cpu().numpy().astype(np.float16)  # (T_i, D)
    assert dense is not None
    sparse = None
    if heads.sparse_linear is not None:
        indptr = np.cumsum([0] + [len(r[0]) for r in rows])
        cols = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        vals = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.float32)
        sparse = csr_matrix((vals, cols.astype(np.int32), indptr), shape=(len(inputs), heads.vocab_size))
    return Reps(dense, sparse, vecs if heads.colbert_linear is not None else [])


def sparse_search(q, corpus, ids: Sequence[str], k: int, query_chunk: int = 256) -> list[dict[str, float]]:
    """Exact top-k by lexical matching through the corpus's postings (module doc). (Q, V), (N, V) CSR."""
    postings = corpus.T.tocsr()  # (V, N): for each id, its documents and weights
    out = []
    for q0 in range(0, q.shape[0], query_chunk):
        scores = (q[q0 : q0 + query_chunk] @ postings).tocsr()  # (q, N), only documents sharing an id
        for r in range(scores.shape[0]):
            row = scores.getrow(r)
            top = np.argsort(-row.data, kind="stable")[:k]
            out.append({ids[row.indices[t]]: float(row.data[t]) for t in top})
    return out


def _padded(vecs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Documents' multi-vectors -> (n, T, D) float32 padded with zeros, (n, T) mask."""
    width = max(v.shape[0] for v in vecs)
    out = torch.zeros((len(vecs), width, vecs[0].shape[1]))
    mask = torch.zeros((len(vecs), width), dtype=torch.long)
    for i, v in enumerate(vecs):
        out[i, : v.shape[0]] = torch.from_numpy(v.astype(np.float32))
        mask[i, : v.shape[0]] = 1
    return out, mask


def colbert_rescore(q_vecs: np.ndarray, doc_vecs: Sequence[np.ndarray]) -> np.ndarray:
    """One query's (Tq, D) against candidates' multi-vectors -> (n,) late-interaction scores."""
    d, d_mask = _padded(doc_vecs)
    q = torch.from_numpy(q_vecs.astype(np.float32)).unsqueeze(0)  # (1, Tq, D)
    return colbert_scores(q, torch.ones(q.shape[:2], dtype=torch.long), d, d_mask)[0].numpy()  # (n,)


def run_mode(
    mode: str, q: Reps, c: Reps, doc_ids: Sequence[str], k: int, rerank_k: int, weights: dict
) -> list[dict]:
    """One mode's run: per query {doc id: score}, best first, at most max(k, candidates) documents."""
    if mode == "dense":
        return search(q.dense, c.dense, doc_ids, k=k)
    if mode == "sparse":
        return sparse_search(q.sparse, c.sparse, doc_ids, k)
    position = {d: i for i, d in enumerate(doc_ids)}
    dense_top = search(q.dense, c.dense, doc_ids, k=max(rerank_k, 1))
    sparse_top = (
        sparse_search(q.sparse, c.sparse, doc_ids, rerank_k)
        if mode == "hybrid" and q.sparse is not None
        else None
    )
    out = []
    for i, hits in enumerate(dense_top):
        cand = list(hits) if sparse_top is None else list(dict.fromkeys([*hits, *sparse_top[i]]))
        rows = np.array([position[d] for d in cand])
        if mode == "colbert":
            scores = colbert_rescore(q.colbert[i], [c.colbert[r] for r in rows])
        else:
            dense = c.dense[rows] @ q.dense[i]
            scores = weights["dense"] * dense
            if q.sparse is not None and weights["sparse"]:
                scores = scores + weights["sparse"] * (c.sparse[rows] @ q.sparse[i].T).toarray().ravel()
            if q.colbert and weights["colbert"]:
                scores = scores + weights["colbert"] * colbert_rescore(
                    q.colbert[i], [c.colbert[r] for r in rows]
                )
        order = np.argsort(-scores, kind="stable")[:k]
        out.append({cand[j]: float(scores[j]) for j in order})
    return out


def evaluate_modes(
    encoder: Encoder,
    data: RetrievalData,
    instruction: str | None,
    modes: Sequence[str],
    k_values: tuple[int, ...],
    rerank_k: int = 100,
    weights: dict | None = None,
) -> dict[str, dict]:
    """{mode: {"scores", "search_s", "index_bytes", "peak_rss_mib"}} plus "_encode" {seconds, index info}."""
    heads = load_heads_for(encoder)
    check_modes(modes, heads)
    weights = weights or {"dense": 1.0, "sparse": 0.3, "colbert": 1.0}
    doc_ids, q_ids = list(data.corpus), list(data.queries)
    t0 = time.perf_counter()
    corpus = encode_reps(encoder, heads, [data.corpus[d] for d in doc_ids])
    t1 = time.perf_counter()
    queries = encode_reps(encoder, heads, [data.queries[q] for q in q_ids], instruction)
    t2 = time.perf_counter()
    tokens = sum(v.shape[0] for v in corpus.colbert)
    info = {
        "corpus_s": t1 - t0,
        "queries_s": t2 - t1,
        "colbert_tokens": tokens,
        "colbert_dim": corpus.colbert[0].shape[1] if corpus.colbert else 0,
        "colbert_bytes": sum(v.nbytes for v in corpus.colbert),
        "sparse_nnz": int(corpus.sparse.nnz) if corpus.sparse is not None else 0,
    }
    results: dict[str, dict] = {"_encode": info}
    for mode in modes:
        start = time.perf_counter()
        hits = run_mode(mode, queries, corpus, doc_ids, max(k_values), rerank_k, weights)
        seconds = time.perf_counter() - start
        run = dict(zip(q_ids, hits, strict=True))
        results[mode] = {
            "scores": retrieval_scores(data.qrels, run, k_values),
            "search_s": seconds,
            "index_bytes": corpus.nbytes(mode),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        log.info("mode %s: searched %d queries in %.2fs", mode, len(q_ids), seconds)
    return results


def table(results: dict[str, dict]) -> str:
    """The per-mode table eval.retrieval prints."""
    lines = [
        f"{'mode':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'search_s':>9} {'index_MiB':>10} {'peak_RSS_MiB':>12}"
    ]
    for mode, r in results.items():
        if mode.startswith("_"):
            continue
        s = r["scores"]
        lines.append(
            f"{mode:<8} {s.get('ndcg_at_10', float('nan')):>8.4f} {s.get('recall_at_10', float('nan')):>7.4f} "
            f"{s.get('recall_at_100', float('nan')):>7.4f} {s.get('mrr_at_10', float('nan')):>7.4f} "
            f"{r['search_s']:>9.2f} {r['index_bytes'] / 2**20:>10.2f} {r['peak_rss_mib']:>12.0f}"
        )
    e = results.get("_encode")
    if e:
        lines.append(
            f"encode (all heads, one pass): corpus {e['corpus_s']:.1f}s, queries {e['queries_s']:.1f}s"
        )
        if e["colbert_tokens"]:
            lines.append(
                f"multi-vector index: {e['colbert_tokens']:,} tokens x {e['colbert_dim']} dims x 2 bytes = "
                f"{e['colbert_bytes'] / 2**20:.2f} MiB"
            )
    return "\n".join(lines)
