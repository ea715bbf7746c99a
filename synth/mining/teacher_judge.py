"""The LLM judge as a `synth.mine --teacher-kind judge` teacher: each (query, candidate) graded 1-5.

A pair is asked with synth.judge's own score prompt (`prompts/judge_score.j2`, one passage) through
synth.judge's runner (`synth.judge.run.JudgeRunner`): every call is journaled before its answer is
used (kill -9 safe), re-asked up to --max-reasks times when the answer is not the JSON asked for,
--concurrency calls at a time, and stopped by --max-calls / --max-cost. The teacher score is

    grade = (relevance + answerability) / 2        (1.0 .. 5.0; clarity is the query's, not the pair's)

No call is made for a pair whose answer already exists:
- the input's `judge` column: rows `synth.judge --mode score` graded on (query, positive) with the
  same model and the same template (stats.json's `judge` section says which) give the positive's grade;
- the journal, `OUT/.synth/teacher-<fingerprint>/judge_journal.jsonl`: a rerun over the same --out
  (after a crash, a budget stop, or with other mining flags) answers every pair it already asked.

A pair the judge gave no valid answer for (every re-ask unreadable, or the request failed for good)
scores NaN; `synth.mine` drops those rows and counts them, since training needs every candidate scored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from common.rows import JUDGE
from synth.backends.build import backend_price, make_backend
from synth.judge.answers import SCORE_TEMPLATE, Scores
from synth.judge.config import JudgeConfig
from synth.judge.plan import Item, multi_passage
from synth.judge.run import STEP, JudgeRunner, Limits, judge_balance
from synth.plan.render import template_hash
from synth.run.journal import Journal

SCORE = "grade 1-5"  # what stats.json and the card call the score
JOURNAL = "judge_journal.jsonl"
JOURNAL_FORMAT = 1
log = logging.getLogger(__name__)


class TeacherStopped(Exception):
    """A budget flag (--max-calls, --max-cost) stopped new calls; the journal keeps every answer."""

    def __init__(self, which: str):
        super().__init__(which)
        self.which = which


def grade(scores: Scores) -> float:
    return (scores.relevance + scores.answerability) / 2


def column_grades(table: pa.Table, stats: dict, model: str) -> dict[tuple[str, str], float]:
    """(query, positive) -> grade from the input's `judge` column, where synth.judge scored the pair
    with `model` and today's template (another model's or prompt's grades would not be this teacher's)."""
    judge = stats.get("judge") or {}
    template = (judge.get("templates") or {}).get(SCORE_TEMPLATE)
    same = judge.get("model") == model and template == template_hash(SCORE_TEMPLATE)
    if JUDGE not in table.column_names or judge.get("mode") != "score":
        return {}
    if not same:
        log.info(
            "the input's judge column is %s's; --teacher %s asks every pair itself", judge.get("model"), model
        )
        return {}
    out: dict[tuple[str, str], float] = {}
    for r in table.select(["task_type", "query", "positive", JUDGE]).to_pylist():
        if r[JUDGE] is None or multi_passage(r["task_type"]):  # a multi-hop grade is of all its passages
            continue
        try:
            out[r["query"], r["positive"]] = grade(Scores.model_validate(json.loads(r[JUDGE])))
        except (ValueError, ValidationError):  # not a score verdict: nothing to reuse
            continue
    return out


def _stem(prompt: str) -> str:
    # synth.judge's key for a score prompt, so one pair has one key here as there
    return f"s:{hashlib.sha256(prompt.encode()).hexdigest()[:16]}"


class JudgeTeacher:
    kind = "judge"
    query_format = "plain"  # the judge sees the query as written; the instruction is not shown

    def __init__(self, cfg: JudgeConfig, state: Path, known: dict[tuple[str, str], float]):
        from synth.mining.teacher_scores import fingerprint  # imports pyarrow.parquet: only when used

        self.name, self.cfg, self.state, self.known = cfg.model, cfg, state, known
        self.price = backend_price(cfg)  # ValueError: a bad --prices file
        self.journal = Journal(
            state / f"teacher-{fingerprint(self)}" / JOURNAL,
            {"stage": "mine-teacher", "format": JOURNAL_FORMAT, "model": cfg.model},
        )
        limits = Limits(
            cfg.max_reasks, cfg.max_tokens, cfg.max_calls, cfg.max_cost, cfg.concurrency, threshold=1
        )
        self.runner = JudgeRunner(None, self.journal, self.price, limits, progress=False)  # type: ignore[arg-type]
        self.grades: dict[str, float] = {}  # stem -> grade (NaN: no valid answer), across chunks
        self.from_column = 0  # distinct pairs taken from the input's judge column
        self.unscored = 0  # distinct pairs the judge gave no valid answer for

    @property
    def device(self) -> str:
        return self.cfg.backend

    def fingerprint(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "score": SCORE,
            "template": template_hash(SCORE_TEMPLATE),
            "temperature": self.cfg.temperature,
            "max_reasks": self.cfg.max_reasks,
        }

    def score(self, instructions: list[str], queries: list[str], texts: list[str]) -> np.ndarray:
        """(N,) grades; NaN where the judge gave none. TeacherStopped when a budget cut the chunk short."""
        out = np.full(len(texts), np.nan, dtype=np.float32)
        items: dict[str, Item] = {}
        wanted: list[tuple[int, str]] = []
        for n, pair in enumerate(zip(queries, texts, strict=True)):
            if pair in self.known:
                out[n] = self.known[pair]
                self.from_column += 1
                continue
            item = Item("", "score", pair[0], [pair[1]], [None])
            item.stem = _stem(item.prompt())
            wanted.append((n, item.stem))
            if item.stem not in self.grades:
                items.setdefault(item.stem, item)
        if items:
            asyncio.run(self._ask(list(items.values())))
        for n, stem in wanted:
            out[n] = self.grades.get(stem, np.nan)
        if self.runner.stopped_by:
            raise TeacherStopped(self.runner.stopped_by)
        return out

    async def _ask(self, items: list[Item]) -> None:
        # a backend per event loop: its HTTP client belongs to the loop it was made on
        self.runner.backend = make_backend(self.cfg, self.state)
        try:
            await self.runner.run(items)
        finally:
            await self.runner.backend.close()
            await self.journal.close(keep_open=True)
        for stem, verdict in self.runner.verdicts.items():
            self.grades[stem] = grade(verdict.value) if verdict.value is not None else math.nan
            self.unscored += verdict.value is None
        self.runner.verdicts.clear()

    def calls(self) -> dict:
        """stats.json's teacher.calls: the judge's balance of calls, and the pairs no call was made for."""
        ledger, tally = self.runner.ledger, self.runner.ledger.steps[STEP]
        return {
            **judge_balance(ledger),
            "made_this_run": tally.made,
            "answered_from_journal": tally.calls - tally.made,
            "abandoned_in_flight_this_run": ledger.abandoned,
            "pairs_from_judge_column": self.from_column,
            "pairs_unscored": self.unscored,
            "cost_usd": round(self.runner.cost, 6),
            "price_known": self.price.known,
            "max_reasks": self.cfg.max_reasks,
        }

    def close(self) -> None:
        self.journal.release()
