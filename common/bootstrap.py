"""A paired bootstrap over queries: is model B better than model A on the same queries, and by how much?

Two models scored on the same queries give one difference per query (B - A). Resampling the queries
with replacement and taking the mean difference of each resample gives the spread of that mean; the
2.5th and 97.5th percentiles of it are a 95% confidence interval (the percentile bootstrap, as in
Sakai 2006 for IR evaluation). An interval above 0 says B is better on queries like these.

    paired_difference([0.5, 0.0, 1.0], [0.6, 0.2, 1.0]) -> Difference(mean=0.1, low=0.0, high=0.2, n=3)

Not handled: queries one model has and the other lacks (the caller pairs them; see `pair_scores`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

RESAMPLES = 10_000


@dataclass(frozen=True)
class Difference:
    mean: float  # mean of B - A over the queries
    low: float  # 95% interval of that mean
    high: float
    n: int  # queries

    def verdict(self) -> str:
        """ "better" (interval above 0), "worse" (below 0) or "no measurable change"."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no measurable change"

    def describe(self, scale: float = 100.0) -> str:
        """'+1.23 [+0.40, +2.05] on 807 queries' (in points at the default scale)."""
        return (
            f"{self.mean * scale:+.2f} [{self.low * scale:+.2f}, {self.high * scale:+.2f}] "
            f"on {self.n} queries"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def paired_difference(
    a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES, seed: int = 0, level: float = 0.95
) -> Difference:
    """Mean of b - a and its percentile-bootstrap interval; `a` and `b` hold the same queries in the
    same order."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or not len(x):
        raise ValueError(f"paired scores must be two equal, non-empty lists; got {x.shape} and {y.shape}")
    diff = y - x
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(float(diff.mean()), float(low), float(high), len(diff))


def pair_scores(
    a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]], metric: str
) -> tuple[list[float], list[float]]:
    """The per-query `metric` of two runs over the same queries (eval.retrieval --per-query), in one
    order; a query missing from either side is an error, not a silent drop."""
    if set(a) != set(b):
        missing = sorted(set(a) ^ set(b))
        raise ValueError(f"the two runs score different queries ({len(missing)} differ, e.g. {missing[:3]})")
    queries = sorted(a)
    return [a[q][metric] for q in queries], [b[q][metric] for q in queries]
