"""Metrics equal hand-computed values, pytrec_eval's own numbers, and mteb's retrieval scorer."""

from __future__ import annotations

import math
import random

import pytest

from eval.metrics import rank, retrieval_scores, sts_scores


def test_worked_example_by_hand():
    # relevant d1 and d3; ranking d2 > d1 > d3
    s = retrieval_scores({"q": {"d1": 1, "d3": 1}}, {"q": {"d2": 0.9, "d1": 0.8, "d3": 0.7}}, (1, 2, 3))
    assert s["mrr_at_1"] == 0.0
    assert s["mrr_at_2"] == s["mrr_at_3"] == 0.5
    assert s["recall_at_1"] == 0.0 and s["recall_at_2"] == 0.5 and s["recall_at_3"] == 1.0
    assert s["map_at_3"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert s["map_at_2"] == pytest.approx((1 / 2) / 2)  # map_cut divides by all relevant docs
    idcg3 = 1 + 1 / math.log2(3)
    assert s["ndcg_at_3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / idcg3)


def test_graded_ndcg_and_mean_over_queries_by_hand():
    qrels = {"a": {"x": 2, "y": 1}, "b": {"z": 1}}
    run = {"a": {"y": 0.9, "x": 0.5, "w": 0.1}, "b": {"w": 0.9, "z": 0.1}}
    s = retrieval_scores(qrels, run, (1, 10))
    # trec_eval's ndcg_cut uses the grade itself as gain: dcg = 1/1 + 2/log2(3); idcg = 2/1 + 1/log2(3)
    ndcg_a = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    ndcg_b = (1 / math.log2(3)) / 1
    assert s["ndcg_at_10"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert s["mrr_at_10"] == pytest.approx((1 + 1 / 2) / 2)
    assert s["mrr_at_1"] == pytest.approx(0.5)
    assert s["recall_at_1"] == pytest.approx((1 / 2 + 0) / 2)


def test_ties_break_by_doc_id_descending():
    assert rank({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]
    # d9 and d1 tie; trec_eval puts d9 first, so the relevant d1 is at rank 2
    s = retrieval_scores({"q": {"d1": 1}}, {"q": {"d1": 0.5, "d9": 0.5}}, (1, 2))
    assert s["mrr_at_1"] == 0.0 and s["mrr_at_2"] == 0.5


def test_queries_without_judgements_are_not_averaged():
    s = retrieval_scores({"q": {"d": 1}}, {"q": {"d": 1.0}, "unjudged": {"d": 1.0}}, (1,))
    assert s["ndcg_at_1"] == 1.0 and s["mrr_at_1"] == 1.0


def _random_case(seed: int, n_q: int = 15, n_d: int = 40):
    rng = random.Random(seed)
    qrels = {
        f"q{i}": {f"d{j}": rng.choice([0, 1, 2]) for j in rng.sample(range(n_d), rng.randint(1, 5))}
        for i in range(n_q)
    }
    # rounded scores so that ties occur and their breaking is exercised
    run = {q: {f"d{j}": round(rng.random(), 1) for j in range(n_d)} for q in qrels}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pytrec_eval_directly(seed):
    import pytrec_eval

    qrels, run = _random_case(seed)
    ours = retrieval_scores(qrels, run, (5, 10, 20))
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map_cut.20", "recall.5"}).evaluate(run)
    mean = lambda m: sum(v[m] for v in per_q.values()) / len(per_q)  # noqa: E731
    assert ours["ndcg_at_10"] == pytest.approx(mean("ndcg_cut_10"), abs=1e-12)
    assert ours["map_at_20"] == pytest.approx(mean("map_cut_20"), abs=1e-12)
    assert ours["recall_at_5"] == pytest.approx(mean("recall_5"), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_mteb_scorer(seed):
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores

    qrels, run = _random_case(seed)
    k = (1, 3, 5, 10, 20)
    ours = retrieval_scores(qrels, run, k)
    theirs = calculate_retrieval_scores(run, qrels, list(k))
    for kk in k:
        assert ours[f"ndcg_at_{kk}"] == pytest.approx(
            theirs.ndcg[f"NDCG@{kk}"], abs=1e-5
        )  # mteb rounds to 5 places
        assert ours[f"map_at_{kk}"] == pytest.approx(theirs.map[f"MAP@{kk}"], abs=1e-5)
        assert ours[f"recall_at_{kk}"] == pytest.approx(theirs.recall[f"Recall@{kk}"], abs=1e-5)
        assert ours[f"mrr_at_{kk}"] == pytest.approx(theirs.mrr[f"MRR@{kk}"], abs=1e-12)


def test_sts_correlations_by_hand_and_scipy():
    pred, gold = [0.1, 0.4, 0.35, 0.8], [1.0, 2.0, 3.0, 4.0]
    s = sts_scores(pred, gold)
    # ranks of pred: 1, 3, 2, 4 vs 1, 2, 3, 4 -> spearman = 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*2/60
    assert s["spearman"] == pytest.approx(0.8)
    mp, mg = sum(pred) / 4, sum(gold) / 4
    cov = sum((p - mp) * (g - mg) for p, g in zip(pred, gold, strict=True))
    sp = math.sqrt(sum((p - mp) ** 2 for p in pred))
    sg = math.sqrt(sum((g - mg) ** 2 for g in gold))
    assert s["pearson"] == pytest.approx(cov / (sp * sg))
    assert s["cosine_spearman"] == s["spearman"]
