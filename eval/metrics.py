"""Retrieval and STS metrics, computed by maintained libraries and named the way mteb names them.

Retrieval: nDCG@k, MAP@k and Recall@k come from ``pytrec_eval`` (``ndcg_cut``, ``map_cut``,
``recall``), exactly the measures mteb asks it for. MRR@k is ``pytrec_eval``'s ``recip_rank`` on the
run cut to its top k, ranked the way ``trec_eval`` ranks (score descending, ties broken by document
id descending), which is what mteb's own MRR reproduces. Keys: ``ndcg_at_10``, ``mrr_at_10``,
``recall_at_100``, ``map_at_100``, ... Averages are over the queries that have at least one judged
document, as in mteb.

Worked example (one query, relevant documents d1 and d3, ranking d2 > d1 > d3):

    retrieval_scores({"q": {"d1": 1, "d3": 1}}, {"q": {"d2": 0.9, "d1": 0.8, "d3": 0.7}}, (1, 3))
    -> mrr_at_1 = 0, mrr_at_3 = 1/2, recall_at_1 = 0, recall_at_3 = 1,
       map_at_3 = (1/2 + 2/3) / 2, ndcg_at_3 = (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3))

STS: Pearson and Spearman correlation (scipy) of cosine similarities with the gold scores.

Bitext mining: sentence i of the first language should find sentence i of the second as its nearest
neighbour. Accuracy, and precision, recall and F1 from scikit-learn with ``average="weighted"`` and
``zero_division=0``, the calls mteb's BitextMining task makes. Every gold label occurs once, so
recall equals accuracy and precision punishes hubs: a sentence that is the neighbour of c sources
counts 1/c when right. Worked example: predictions [0, 0, 2] -> accuracy 2/3, precision
(1/2 + 0 + 1) / 3 = 0.5, F1 (2/3 + 0 + 1) / 3 = 5/9 (F1 of label j: 2 * tp_j / (c_j + 1)).

Not handled: graded-relevance variants of MRR (any judged grade > 0 counts as relevant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

DEFAULT_K = (1, 3, 5, 10, 100, 1000)
# The four numbers every retrieval report leads with (the list).
HEADLINE = ("ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_100")


def rank(doc_scores: Mapping[str, float]) -> list[str]:
    """Document ids best first, ties broken by id descending, as trec_eval (and pytrec_eval) do."""
    return [d for d, _ in sorted(doc_scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def per_query_scores(
    qrels: Qrels, run: Run, k_values: Sequence[int] = DEFAULT_K
) -> dict[str, dict[str, float]]:
    """nDCG@k, MAP@k and Recall@k of every query of ``qrels`` that has a run, under mteb's names:
    ``{query id: {"ndcg_at_10": ..., "recall_at_100": ...}}``. What a paired comparison of two
    models needs (a bootstrap over queries); :func:`retrieval_scores` is their mean."""
    import pytrec_eval

    qrels, run = _judged(qrels, run)
    ks = ",".join(str(k) for k in k_values)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{ks}", f"map_cut.{ks}", f"recall.{ks}"})
    names = {f"{m}_{k}": f"{label}_at_{k}" for k in k_values for m, label in _TREC_NAMES}
    return {
        q: {names[m]: v for m, v in measures.items() if m in names}
        for q, measures in evaluator.evaluate(run).items()
    }


_TREC_NAMES = (("ndcg_cut", "ndcg"), ("map_cut", "map"), ("recall", "recall"))


def _judged(qrels: Qrels, run: Run) -> tuple[dict, dict]:
    """The queries with at least one judged document, and their runs, in the types pytrec_eval takes."""
    qrels = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if docs}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels}
    assert run, "no query of the run has judgements in qrels"
    return qrels, run


def retrieval_scores(qrels: Qrels, run: Run, k_values: Sequence[int] = DEFAULT_K) -> dict[str, float]:
    """Mean nDCG/MAP/Recall/MRR at each k over the queries of ``qrels`` that have a run.

    ``qrels``: query id -> {doc id: relevance grade}; ``run``: query id -> {doc id: score}.
    """
    import pytrec_eval

    qrels, run = _judged(qrels, run)
    per_query = per_query_scores(qrels, run, k_values)
    out: dict[str, float] = {}
    for k in k_values:
        for _, label in _TREC_NAMES:
            out[f"{label}_at_{k}"] = _mean(per_query, f"{label}_at_{k}")
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    for k in k_values:
        cut = {q: {d: docs[d] for d in rank(docs)[:k]} for q, docs in run.items()}
        scores = rr.evaluate(cut)
        # A query whose top k holds nothing relevant still counts, with reciprocal rank 0.
        out[f"mrr_at_{k}"] = float(np.mean([scores.get(q, {}).get("recip_rank", 0.0) for q in run]))
    return dict(sorted(out.items(), key=lambda kv: (kv[0].rsplit("_", 1)[0], int(kv[0].rsplit("_", 1)[1]))))


def _mean(per_query: Mapping[str, Mapping[str, float]], measure: str) -> float:
    return float(np.mean([m[measure] for m in per_query.values()]))


def sts_scores(predicted: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation of predicted similarities with gold scores.

    Keys follow mteb: ``pearson``/``spearman`` (and the same values as ``cosine_*`` since our
    similarity is the cosine).
    """
    from scipy.stats import pearsonr, spearmanr

    assert len(predicted) == len(gold) >= 2, f"need >= 2 aligned pairs, got {len(predicted)} and {len(gold)}"
    pearson = float(pearsonr(predicted, gold)[0])
    spearman = float(spearmanr(predicted, gold)[0])
    return {"pearson": pearson, "spearman": spearman, "cosine_pearson": pearson, "cosine_spearman": spearman}


def bitext_scores(nearest: Sequence[int]) -> dict[str, float]:
    """Accuracy/precision/recall/F1 of nearest neighbours against the alignment i -> i (mteb's keys).

    ``nearest[i]``: the row of the second language closest to sentence i of the first.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    gold = list(range(len(nearest)))
    pred = [int(j) for j in nearest]
    return {
        "precision": float(precision_score(gold, pred, zero_division=0, average="weighted")),
        "recall": float(recall_score(gold, pred, zero_division=0, average="weighted")),
        "f1": float(f1_score(gold, pred, zero_division=0, average="weighted")),
        "accuracy": float(accuracy_score(gold, pred)),
    }
