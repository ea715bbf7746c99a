"""Which model adapt hands back, and whether it is better: merge weights, then judge with a CI.

1. **Merge** (WiSE-FT): the tuned model is interpolated with the base at each `--merge-alphas` value
   (`train.interpolate`; alpha 0 is the base, 1 the tuned model) and every one is scored on the
   held-out queries. The held-out queries are cut in two by a seeded hash of their ids: the
   *validation* half picks alpha (best mean nDCG@10; a tie goes to the smaller alpha, the one nearer
   the base), the *test* half judges it, so the choice never flatters the verdict.
2. **Verdict**: the paired bootstrap (`common.bootstrap`) of nDCG@10, handed-back model minus base,
   over the queries that judge: the user's own (`--eval-data`) when given, else the test half.
   "better" when the 95% interval is above 0, "worse" when below (and then the base is handed back),
   otherwise "no measurable change". Under `MIN_QUERIES` the report says the interval is too wide to
   tell much.
3. **Guard** (`--guard-data`): the handed-back model may lose at most `--guard-margin` of the base's
   score there (nDCG@10 for a BEIR dir, Spearman for STS); past it the base is handed back.

    alphas {0: val .60, 0.5: val .66, 1: val .64} -> alpha 0.5; test: +3.1 [+1.2, +5.0] -> "better"
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from common.bootstrap import Difference, pair_scores, paired_difference

METRIC = "ndcg_at_10"
MIN_QUERIES = 100  # below this many judging queries a 95% interval is too wide to read


def parse_alphas(text: str) -> list[float]:
    """'0,0.5,1' -> [0.0, 0.5, 1.0]; every value in [0, 1], 0 and 1 always included."""
    try:
        values = {float(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise ValueError(f"--merge-alphas {text!r}: expected comma-separated numbers in [0, 1]") from None
    if any(not 0 <= a <= 1 for a in values):
        raise ValueError(f"--merge-alphas {text!r}: every alpha must be in [0, 1]")
    return sorted(values | {0.0, 1.0})


def alpha_name(alpha: float) -> str:
    """The file stem of an alpha's results: 0 -> 'base', 1 -> 'tuned', 0.5 -> 'alpha-0.5'."""
    return "base" if alpha == 0 else "tuned" if alpha == 1 else f"alpha-{alpha:g}"


def is_validation(query_id: str, seed: int) -> bool:
    """Half of the held-out queries, by a seeded hash of the id: the same on every machine."""
    return hashlib.sha256(f"{seed}\0val\0{query_id}".encode()).digest()[0] < 128


def per_query(path: Path) -> dict[str, dict[str, float]]:
    result = json.loads(path.read_text())
    if "per_query" not in result:
        raise ValueError(f"{path}: no per-query scores (eval.retrieval --per-query)")
    return result["per_query"]


def _mean(scores: dict[str, dict[str, float]], ids: list[str]) -> float | None:
    return sum(scores[q][METRIC] for q in ids) / len(ids) if ids else None


@dataclass
class Choice:
    alpha: float
    table: list[dict]  # per alpha: validation and test mean nDCG@10
    validation_queries: int
    test_queries: int
    test: Difference | None  # the chosen alpha against the base on the test half


def choose_alpha(results: dict[float, Path], seed: int) -> Choice:
    """`results`: alpha -> eval.retrieval --per-query JSON on the held-out queries (alpha 0: base)."""
    scores = {a: per_query(p) for a, p in results.items()}
    ids = sorted(scores[0.0])
    val = [q for q in ids if is_validation(q, seed)]
    test = [q for q in ids if not is_validation(q, seed)]
    if not val or not test:  # too few queries to cut in two: both halves are all of them
        val = test = ids
    table = [
        {"alpha": a, "validation": _mean(scores[a], val), "test": _mean(scores[a], test)}
        for a in sorted(scores)
    ]
    best = max(table, key=lambda r: (round(r["validation"], 12), -r["alpha"]))
    diff = None
    if best["alpha"] != 0:
        base, chosen = pair_scores(
            {q: scores[0.0][q] for q in test}, {q: scores[best["alpha"]][q] for q in test}, METRIC
        )
        diff = paired_difference(base, chosen)
    return Choice(best["alpha"], table, len(val), len(test), diff)


@dataclass
class Verdict:
    status: str  # "better", "no measurable change", "worse"
    handed_back: str  # "tuned" (alpha 1), "merged" (0 < alpha < 1) or "base"
    alpha: float
    judged_on: str  # "your queries (--eval-data)" or "held-out test half"
    difference: Difference | None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The report's first line and the CLI's last line."""
        ci = f": nDCG@10 {self.difference.describe()}" if self.difference else ""
        if self.status == "worse":
            head = "worse: handed back the base model"
        elif self.handed_back == "base":
            head = "no measurable change: handed back the base model"
        elif self.status == "better":
            head = "better (CI above 0)"
        else:
            head = "no measurable change"
        where = f" on {self.judged_on}" if self.difference else ""
        return f"{head}{ci}{where}" + "".join(f"; {n}" for n in self.notes)

    def to_dict(self) -> dict:
        return {
            "line": self.line(),
            "status": self.status,
            "handed_back": self.handed_back,
            "alpha": self.alpha,
            "judged_on": self.judged_on,
            "difference": self.difference.to_dict() if self.difference else None,
            "notes": self.notes,
        }


def judge(choice: Choice, eval_data: tuple[Path, Path] | None = None, guard: dict | None = None) -> Verdict:
    """The verdict from the alpha choice, the user's queries (base, handed-back results) when given,
    and the guard ({"base": x, "result": y, "margin": m, "metric": name}) when given."""
    handed = "base" if choice.alpha == 0 else "tuned" if choice.alpha == 1 else "merged"
    notes: list[str] = []
    if eval_data is not None:
        diff, where = None, "your queries (--eval-data)"
        if handed != "base":
            base, result = pair_scores(per_query(eval_data[0]), per_query(eval_data[1]), METRIC)
            diff = paired_difference(base, result)
    else:
        diff, where = choice.test, "the held-out test half"
    status = diff.verdict() if diff else "no measurable change"
    if diff and diff.n < MIN_QUERIES:
        notes.append(f"only {diff.n} queries: the interval is too wide to tell much")
    if status == "worse":
        handed = "base"
    elif guard is not None and handed != "base" and guard["result"] < guard["base"] - guard["margin"]:
        notes.append(
            f"lost {guard['base'] - guard['result']:.4f} {guard['metric']} on --guard-data "
            f"(more than {guard['margin']}): handed back the base model"
        )
        status, handed = "worse", "base"
    return Verdict(status, handed, choice.alpha if handed != "base" else 0.0, where, diff, notes)
