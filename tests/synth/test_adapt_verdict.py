"""synth.adapt.verdict: the alpha is chosen on one half of the held-out queries and judged on the
other; the verdict reads the user's queries when given; a worse model is never handed back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth.adapt.verdict import alpha_name, choose_alpha, is_validation, judge, parse_alphas


def write(path, scores: dict[str, float]):
    per_query = {q: {"ndcg_at_10": s} for q, s in scores.items()}
    path.write_text(
        json.dumps({"per_query": per_query, "scores": {"ndcg_at_10": float(np.mean(list(scores.values())))}})
    )
    return path


def runs(tmp_path, gains: dict[float, float], n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = {f"q{i}": float(x) for i, x in enumerate(rng.uniform(0.2, 0.8, n))}
    return {
        a: write(tmp_path / f"{alpha_name(a)}.json", {q: s + g for q, s in base.items()})
        for a, g in gains.items()
    }


def test_alphas_always_include_the_base_and_the_tuned_model():
    assert parse_alphas("0.5") == [0.0, 0.5, 1.0]
    assert alpha_name(0.0) == "base" and alpha_name(1.0) == "tuned" and alpha_name(0.25) == "alpha-0.25"
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        parse_alphas("0.5,2")


def test_the_best_alpha_on_validation_is_judged_on_the_other_half(tmp_path):
    choice = choose_alpha(runs(tmp_path, {0.0: 0.0, 0.5: 0.05, 1.0: 0.03}), seed=0)
    assert choice.alpha == 0.5
    assert choice.validation_queries + choice.test_queries == 400
    assert 150 < choice.validation_queries < 250  # about half, by a seeded hash
    assert choice.test.mean == pytest.approx(0.05) and choice.test.n == choice.test_queries
    verdict = judge(choice)
    assert verdict.status == "better" and verdict.handed_back == "merged"
    assert verdict.line().startswith("better (CI above 0): nDCG@10 +5.00 [")
    assert is_validation("q1", 0) == is_validation("q1", 0)


def test_a_tie_goes_to_the_alpha_nearer_the_base_and_the_base_is_handed_back(tmp_path):
    choice = choose_alpha(runs(tmp_path, {0.0: 0.0, 0.5: 0.0, 1.0: -0.02}), seed=0)
    assert choice.alpha == 0.0 and choice.test is None
    verdict = judge(choice)
    assert verdict.handed_back == "base"
    assert verdict.line() == "no measurable change: handed back the base model"


def test_your_queries_override_the_held_out_ones_and_a_loss_there_hands_back_the_base(tmp_path):
    choice = choose_alpha(runs(tmp_path, {0.0: 0.0, 1.0: 0.04}), seed=0)
    (tmp_path / "yours").mkdir()
    yours = runs(tmp_path / "yours", {0.0: 0.0, 1.0: -0.03}, n=300, seed=5)
    verdict = judge(choice, (yours[0.0], yours[1.0]))
    assert verdict.status == "worse" and verdict.handed_back == "base" and verdict.alpha == 0.0
    assert verdict.line().startswith("worse: handed back the base model: nDCG@10 -3.00 [")
    assert "your queries (--eval-data)" in verdict.line()


def test_the_guard_hands_back_the_base_and_few_queries_are_said_to_be_too_few(tmp_path):
    choice = choose_alpha(runs(tmp_path, {0.0: 0.0, 1.0: 0.05}, n=60), seed=0)
    guard = {"metric": "spearman", "base": 0.80, "result": 0.75, "margin": 0.01}
    verdict = judge(choice, guard=guard)
    assert verdict.handed_back == "base" and verdict.status == "worse"
    assert "on --guard-data" in verdict.line() and "too wide to tell" in verdict.line()
    assert judge(choice, guard={**guard, "result": 0.795}).handed_back == "tuned"
