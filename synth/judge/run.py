"""The judge's calls: each item asked (and re-asked) through the journal, every call in one category.

A call is a journal record (`synth.run.journal`: written and fsynced before its answer is used, so a run
killed at any moment, kill -9 included, pays again for nothing it already has). Keys are
`{item.stem}:{attempt}` and the stem hashes the prompt, so a rerun, with another --threshold too,
finds every answered call. Each call ends in exactly one category:

    kept      a valid answer whose verdict keeps its rows (relabel: every valid answer)
    dropped   a valid answer whose scores fall under --threshold (score mode)
    rejected  an answer that is not the JSON asked for (re-asked up to --max-reasks times), by reason
    errors    a request that failed for good (after the backend's retries), by cause

    calls = kept + dropped + rejected + errors      (`judge_balance`)

The call itself is the generator's (`synth.run.call`), with the same ledger type (`synth.run.ledger`).

Budgets (--max-calls over the journal, --max-cost over what the journal's answers cost) stop new
calls; calls already sent finish into the journal and are counted, and a rerun with a higher limit
goes on from there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tqdm import tqdm

from synth.backends.base import Backend
from synth.judge.answers import Invalid, classify, low_score_reason
from synth.judge.plan import Item, Verdict
from synth.plan.pricing import Price, estimate_prompt_tokens
from synth.run.call import Calls, budget_room
from synth.run.journal import Journal
from synth.run.ledger import JUDGE_CATEGORIES, BudgetReached, Entry, Ledger

STEP = "judge"  # the judge's ledger has this one step
CHANGED = "the judge templates changed since; use a new --out"


def judge_balance(ledger: Ledger) -> dict:
    """The judge's accounting: every call of this run in one category, and whether they add up (the
    generator's `Ledger.balance`, flattened to the judge's one step)."""
    calls = ledger.steps[STEP].calls
    balance = ledger.balance(calls)
    return {**balance[STEP], "calls": calls, "balanced": balance["balanced"]}


@dataclass
class Limits:
    max_reasks: int
    max_tokens: int
    max_calls: int | None
    max_cost: float | None
    concurrency: int
    threshold: int


class JudgeRunner:
    def __init__(
        self, backend: Backend, journal: Journal, price: Price, limits: Limits, progress: bool = True
    ):
        self.journal = journal
        self.price = price
        self.limits = limits
        self.ledger = Ledger(JUDGE_CATEGORIES)
        # Tokens of answers already in the journal count against --max-cost: they were paid for.
        self.ledger.prompt_tokens, self.ledger.completion_tokens = journal.usage
        self.calls = Calls(backend, journal, self.ledger, "", CHANGED)
        self.verdicts: dict[str, Verdict] = {}
        self.stopped_by: str | None = None
        self._shown = 0.0
        self.bar = tqdm(unit="item", desc="judge", disable=not progress, mininterval=0.5, dynamic_ncols=True)

    @property
    def backend(self) -> Backend:
        return self.calls.backend

    @backend.setter
    def backend(self, backend: Backend) -> None:  # a backend per event loop (the mining teacher's chunks)
        self.calls.backend = backend

    @property
    def cost(self) -> float:
        return self.price.cost(self.ledger.prompt_tokens, self.ledger.completion_tokens)

    def _take(self) -> None:
        """Let one attempt be sent, or raise BudgetReached naming the budget that stops it."""
        if self.stopped_by:
            raise BudgetReached(self.stopped_by)
        promised = self.calls.inflight  # the judge promises nothing ahead: an item asks as it goes
        room, which = budget_room(
            self.limits.max_calls,
            self.limits.max_cost,
            len(self.journal.records),
            promised,
            self.cost,
            attempt_cost=0.0,
        )
        if room < 1:
            raise BudgetReached(which)

    async def _call(self, key: str, prompt: str, max_tokens: int, schema: dict) -> dict:
        est = estimate_prompt_tokens(prompt) + 16
        return await self.calls.ask(STEP, key, prompt, max_tokens, schema, est, self._take)

    async def judge(self, item: Item) -> Verdict:
        """Ask until an answer is valid or the re-asks are spent; every attempt lands in the ledger."""
        max_tokens = self.limits.max_tokens
        verdict = Verdict(None)
        for attempt in range(self.limits.max_reasks + 1):
            key = f"{item.stem}:{attempt}"
            record = await self._call(key, item.prompt(reask=attempt > 0), max_tokens, item.schema())
            if "error" in record:
                self.ledger.record(key, Entry(STEP, "errors", record["error"]))
                verdict = Verdict(None, "judge_error", record["error"])
                continue
            try:
                value = classify(record, item.kind, len(item.texts))
            except Invalid as bad:
                self.ledger.record(key, Entry(STEP, "rejected", bad.reason))
                verdict = Verdict(None, "judge_invalid", f"{bad.reason}: {bad.detail}", record["text"])
                if bad.reason == "truncated":
                    max_tokens *= 2
                continue
            low = item.kind == "score" and low_score_reason(value, self.limits.threshold)
            self.ledger.record(key, Entry(STEP, "dropped" if low else "kept", low or ""))
            return Verdict(value, answer=record["text"])
        return verdict

    async def _worker(self, queue: list[Item]) -> None:
        while queue:
            item = queue.pop()
            try:
                self.verdicts[item.stem] = await self.judge(item)
            except BudgetReached as stop:
                self.stopped_by = self.stopped_by or stop.which
            self.bar.update(1)
            self._show()

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._shown < 0.5:  # formatting the postfix costs more than a call's work
            return
        self._shown = now
        n = self.ledger.steps[STEP].categories
        self.bar.set_postfix_str(
            f"kept {n['kept']} dropped {n['dropped']} rej {n['rejected']} err {n['errors']} ${self.cost:.2f}",
            refresh=False,
        )

    async def run(self, items: list[Item]) -> None:
        """Judge every item (items already answered by the journal cost nothing); `stopped_by` is set
        when a budget cut the run short. `concurrency` workers share the queue: one item each at a time."""
        self.bar.reset(total=len(items))
        queue = list(reversed(items))  # popped from the end: items go out in their order
        workers = [
            asyncio.ensure_future(self._worker(queue))
            for _ in range(min(self.limits.concurrency, len(items)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._show(force=True)
            self.bar.close()

    @property
    def complete(self) -> bool:
        return self.stopped_by is None
