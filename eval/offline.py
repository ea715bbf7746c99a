"""Offline evaluators on local files: retrieval (BEIR layout) and STS (sentence pairs).

Retrieval: encode the corpus (no instruction; cached by model and corpus hash) and the judged
queries (with the instruction), exact cosine top-k search in chunks (:mod:`eval.search`), then
pytrec_eval metrics (:mod:`eval.metrics`). These are the steps mteb takes for a retrieval task,
so the numbers equal mteb's for the same model and data (tests/eval/test_mteb_equivalence.py).

STS: encode both sides (with the instruction when given, the paper's protocol for symmetric
tasks), cosine per pair, Pearson and Spearman against the gold scores.

Bitext: encode both languages (with the instruction when given, on both sides as mteb does), the
nearest neighbour by cosine of each first-language sentence among the second language's, scored
against the alignment (:func:`eval.metrics.bitext_scores`). Two identical sentences in the second
column tie exactly; which one wins is torch.topk's choice, as in mteb.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from eval.beir import RetrievalData
from eval.bitext_file import BitextData
from eval.encoder import TextEncoder
from eval.metrics import DEFAULT_K, bitext_scores, retrieval_scores, sts_scores
from eval.search import search
from eval.sts_file import STSData

log = logging.getLogger(__name__)


def evaluate_retrieval(
    encoder: TextEncoder,
    data: RetrievalData,
    instruction: str | None,
    k_values: tuple[int, ...] = DEFAULT_K,
    corpus_chunk: int = 16384,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(metrics, run): mteb-named metrics and the top-max(k) run {query: {doc: score}}."""
    t0 = time.perf_counter()
    doc_ids = list(data.corpus)
    doc_emb = encoder.encode([data.corpus[d] for d in doc_ids])  # (N, H)
    q_ids = list(data.queries)
    q_emb = encoder.encode([data.queries[q] for q in q_ids], instruction=instruction)  # (Q, H)
    t1 = time.perf_counter()
    hits = search(q_emb, doc_emb, doc_ids, k=max(k_values), corpus_chunk=corpus_chunk)
    run = dict(zip(q_ids, hits, strict=True))
    scores = retrieval_scores(data.qrels, run, k_values)
    log.info(
        "encoded %d docs + %d queries in %.1fs, searched and scored in %.1fs",
        len(doc_ids),
        len(q_ids),
        t1 - t0,
        time.perf_counter() - t1,
    )
    return scores, run


def cosine_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine. (N, H), (N, H) -> (N,)."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def evaluate_sts(encoder: TextEncoder, data: STSData, instruction: str | None) -> dict[str, float]:
    """Pearson/Spearman of cosine(sentence1, sentence2) with the gold scores."""
    emb1 = encoder.encode(data.sentence1, instruction=instruction)  # (N, H)
    emb2 = encoder.encode(data.sentence2, instruction=instruction)  # (N, H)
    return sts_scores(cosine_pairs(emb1, emb2).tolist(), data.score)


def evaluate_bitext(encoder: TextEncoder, data: BitextData, instruction: str | None) -> dict[str, float]:
    """mteb's BitextMining scores: nearest neighbour by cosine from the first column into the second."""
    emb1 = encoder.encode(data.sentences1, instruction=instruction)  # (N, H)
    emb2 = encoder.encode(data.sentences2, instruction=instruction)  # (N, H)
    rows = [str(j) for j in range(len(data.sentences2))]
    nearest = [int(next(iter(hit))) for hit in search(emb1, emb2, rows, k=1)]
    scores = bitext_scores(nearest)
    return {**scores, "main_score": scores["f1"]}  # mteb's main score for BitextMining
