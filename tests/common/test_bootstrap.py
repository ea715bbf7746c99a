from __future__ import annotations

import numpy as np
import pytest

from common.bootstrap import pair_scores, paired_difference


def test_a_consistent_gain_has_an_interval_above_zero_and_noise_straddles_it():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 400)
    better = paired_difference(base, base + 0.05 + rng.normal(0, 0.05, 400))
    assert better.low > 0 and better.verdict() == "better" and abs(better.mean - 0.05) < 0.01
    noise = paired_difference(base, base + rng.normal(0, 0.05, 400))
    assert noise.low < 0 < noise.high and noise.verdict() == "no measurable change"
    worse = paired_difference(base, base - 0.05)
    assert worse.high < 0 and worse.verdict() == "worse"
    assert better.describe().endswith("on 400 queries") and better.describe().startswith("+")


def test_the_interval_is_the_same_for_the_same_seed_and_narrows_with_more_queries():
    rng = np.random.default_rng(2)
    a, d = rng.uniform(0, 1, 1000), rng.normal(0.01, 0.1, 1000)
    assert paired_difference(a, a + d) == paired_difference(a, a + d)
    few, many = paired_difference(a[:50], (a + d)[:50]), paired_difference(a, a + d)
    assert many.high - many.low < few.high - few.low


def test_runs_over_different_queries_are_refused():
    with pytest.raises(ValueError, match="different queries"):
        pair_scores({"q1": {"m": 1.0}}, {"q2": {"m": 1.0}}, "m")
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_difference([1.0], [1.0, 2.0])
    assert pair_scores({"b": {"m": 2.0}, "a": {"m": 1.0}}, {"a": {"m": 3.0}, "b": {"m": 4.0}}, "m") == (
        [1.0, 2.0],
        [3.0, 4.0],
    )
