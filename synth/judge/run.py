"""The judge's calls: each item asked (and re-asked) through the journal, every call in one category.

A call is a journal record (`synth.run.journal`: written and fsynced before its answer is used, so a run
killed at any moment, kill -9 included, pays again for nothing it already has). Keys are
`{item.stem}:{attempt}` and the stem hashes the prompt, so a rerun, with another --threshold too,
finds every answered call. Each call ends in exactly one category:

    kept      a valid answer whose verdict keeps its rows (relabel: every valid answer)
    dropped   a valid answer whose scores fall under --threshold (score mode)
    rejected  an answer that is not the JSON asked for (re-asked up to --max-reasks times), by reason
    errors    a request that failed for good (after the backend's retries), by cause

    calls = kept + dropped + rejected + errors      (`JudgeLedger.balance`)

Budgets (--max-calls over the journal, --max-cost over what the journal's answers cost) stop new
calls; calls already sent finish into the journal and are counted, and a rerun with a higher limit
goes on from there.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from synth.backends.base import Backend, ChatRequest, RequestFailed
from synth.judge.answers import Invalid, classify, low_score_reason
from synth.judge.plan import Item, Verdict
from synth.plan.plan import prompt_hash
from synth.plan.pricing import Price, estimate_prompt_tokens
from synth.run.journal import Journal, JournalMismatch
from synth.run.ledger import BudgetReached

CATEGORIES = ("kept", "dropped", "rejected", "errors")


@dataclass
class JudgeLedger:
    entries: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (category, reason)
    made: int = 0  # calls paid by this run
    from_journal: int = 0  # calls answered by the journal
    prompt_tokens: int = 0  # of every answer in the journal (all paid, now or before): --max-cost
    completion_tokens: int = 0
    used_tokens: list[int] = field(default_factory=lambda: [0, 0])  # of the calls this run used
    abandoned: int = 0  # sent, never answered (Ctrl-C): not in the journal, asked again by a rerun
    categories: Counter = field(default_factory=Counter)  # live counts, for the progress bar
    reasons: Counter = field(default_factory=Counter)  # (category, reason) -> n

    def record(self, key: str, category: str, reason: str = "") -> None:
        assert category in CATEGORIES and key not in self.entries, f"{key}: {category} twice or unknown"
        self.entries[key] = (category, reason)
        self.categories[category] += 1
        self.reasons[category, reason] += 1

    def count(self, category: str) -> int:
        return self.categories[category]

    def why(self, category: str) -> dict[str, int]:
        counts = Counter({r: n for (c, r), n in self.reasons.items() if c == category and r})
        return dict(counts.most_common())

    def balance(self) -> dict:
        counts = {c: self.count(c) for c in CATEGORIES}
        calls = self.made + self.from_journal
        return {"calls": calls, **counts, "rejects": self.why("rejected"), "errors_by_cause": self.why("errors"),
                "balanced": calls == sum(counts.values())}  # fmt: skip


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
        self.backend = backend
        self.journal = journal
        self.price = price
        self.limits = limits
        self.ledger = JudgeLedger()
        for record in journal.records.values():  # paid for, now or by an earlier run
            usage = record.get("usage", (0, 0))
            self.ledger.prompt_tokens += usage[0]
            self.ledger.completion_tokens += usage[1]
        self.verdicts: dict[str, Verdict] = {}
        self.stopped_by: str | None = None
        self.inflight = 0
        self._shown = 0.0
        self.bar = tqdm(unit="item", desc="judge", disable=not progress, mininterval=0.5, dynamic_ncols=True)

    @property
    def cost(self) -> float:
        return self.price.cost(self.ledger.prompt_tokens, self.ledger.completion_tokens)

    def _check_budget(self) -> None:
        if self.stopped_by:
            raise BudgetReached(self.stopped_by)
        if (
            self.limits.max_calls is not None
            and len(self.journal.records) + self.inflight >= self.limits.max_calls
        ):
            raise BudgetReached("max_calls")
        if self.limits.max_cost is not None and self.cost >= self.limits.max_cost:
            raise BudgetReached("max_cost")

    async def _call(self, key: str, prompt: str, max_tokens: int, schema: dict) -> dict:
        digest = prompt_hash(prompt)
        record = self.journal.get(key)
        if record is not None:
            if record["h"] != digest:  # the stem hashes the first prompt; a re-ask's differs by design
                raise JournalMismatch(f"journal entry {key} was answered for another prompt: the judge "
                                      "templates changed since; use a new --out")  # fmt: skip
            self.ledger.from_journal += 1
        else:
            self._check_budget()
            self.inflight += 1  # counted against --max-calls until the journal holds it
            try:
                seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big")
                est = estimate_prompt_tokens(prompt) + 16
                try:
                    c = await self.backend.complete(ChatRequest(key, prompt, max_tokens, schema, seed, est))
                    record = {"k": key, "h": digest, "text": c.text, "finish": c.finish_reason,
                              "usage": [c.prompt_tokens, c.completion_tokens]}  # fmt: skip
                except RequestFailed as err:
                    record = {"k": key, "h": digest, "error": err.reason}  # final for its key
                except asyncio.CancelledError:
                    self.ledger.abandoned += 1
                    raise
                self.ledger.made += 1
                self.ledger.prompt_tokens += record.get("usage", (0, 0))[0]
                self.ledger.completion_tokens += record.get("usage", (0, 0))[1]
                await self.journal.append(record)
            finally:
                self.inflight -= 1
        usage = record.get("usage", (0, 0))
        self.ledger.used_tokens = [
            self.ledger.used_tokens[0] + usage[0],
            self.ledger.used_tokens[1] + usage[1],
        ]
        return record

    async def judge(self, item: Item) -> Verdict:
        """Ask until an answer is valid or the re-asks are spent; every attempt lands in the ledger."""
        max_tokens = self.limits.max_tokens
        verdict = Verdict(None)
        for attempt in range(self.limits.max_reasks + 1):
            key = f"{item.stem}:{attempt}"
            record = await self._call(key, item.prompt(reask=attempt > 0), max_tokens, item.schema())
            if "error" in record:
                self.ledger.record(key, "errors", record["error"])
                verdict = Verdict(None, "judge_error", record["error"])
                continue
            try:
                value = classify(record, item.kind, len(item.texts))
            except Invalid as bad:
                self.ledger.record(key, "rejected", bad.reason)
                verdict = Verdict(None, "judge_invalid", f"{bad.reason}: {bad.detail}", record["text"])
                if bad.reason == "truncated":
                    max_tokens *= 2
                continue
            low = item.kind == "score" and low_score_reason(value, self.limits.threshold)
            self.ledger.record(key, "dropped" if low else "kept", low or "")
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
        b = self.ledger
        self.bar.set_postfix_str(f"kept {b.count('kept')} dropped {b.count('dropped')} rej {b.count('rejected')} "
                                 f"err {b.count('errors')} ${self.cost:.2f}", refresh=False)  # fmt: skip

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
