"""The async generation loop: plan -> prompt -> call (or journal) -> validate -> dedup -> row.

Calls run concurrently and finish in any order, but their results are folded into the data set
strictly in call-index order by a cursor. Which rows are kept, which are duplicates and every count
in stats.json therefore depend only on the answers in the journal, never on timing: a run killed
and resumed writes exactly the rows an uninterrupted run with the same answers would. New calls are
issued while the rows kept so far, plus the expected yield of calls still outstanding, fall short of
the target.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from synth.analysis import analyse
from synth.backends.base import Backend, ChatRequest, RequestFailed
from synth.decontam import Decontaminator
from synth.dedup import Deduper
from synth.journal import Journal, JournalMismatch
from synth.plan import (
    Plan,
    PlannedCall,
    brainstorm_max_tokens,
    brainstorm_prompt,
    completion_token_estimate,
    generate_prompt,
    max_tokens_for,
    prompt_hash,
)
from synth.pools import BrainstormResult, TaskPool
from synth.pricing import Price, estimate_prompt_tokens
from synth.progress import Progress
from synth.render import template_hash
from synth.tasks import TASK_TYPES
from synth.validate import Reject, json_schema, validate_brainstorm

PRIOR_KEEP_RATE = 0.9


@contextmanager
def fewer_gc_passes(gen0: int = 20_000, gen1: int = 20, gen2: int = 20):
    """Each call allocates many short-lived containers (SDK and HTTP objects) while the run holds a
    large, growing heap of long-lived ones (journal, rows, LSH tables); with the default thresholds
    the collector keeps re-scanning that heap. Measured at concurrency 256: 3.2-4.0 ms of CPU per
    call with the defaults, 2.8 with these (bench/generate_throughput.py). Nothing here makes cycles
    that must be collected promptly."""
    old = gc.get_threshold()
    gc.freeze()  # what exists before the run (modules, the plan, the journal read back) is never garbage
    gc.set_threshold(gen0, gen1, gen2)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class BudgetReached(Exception):
    def __init__(self, which: str):
        super().__init__(which)
        self.which = which


@dataclass
class Outcome:
    call: PlannedCall
    task: str | None
    fields: dict[str, str] | None
    key: str = ""
    rejects: list[dict] = field(default_factory=list)
    fingerprints: list | None = None  # of the dedup texts, computed with the validation
    incomplete: str | None = None  # set when a budget stopped this call before it finished


@dataclass
class Limits:
    target: int
    max_reasks: int
    max_calls: int
    max_cost: float | None
    concurrency: int
    max_tokens_cap: int


class Runner:
    def __init__(
        self,
        backend: Backend,
        journal: Journal,
        plan: Plan,
        limits: Limits,
        price: Price,
        model: str,
        progress: Progress | None = None,
        language_check: bool = True,
        decontaminator: Decontaminator | None = None,
    ):
        self.backend = backend
        self.journal = journal
        self.plan = plan
        self.limits = limits
        self.price = price
        self.model = model
        self.progress = progress
        self.language_check = language_check
        self.decontaminator = decontaminator
        self.decontaminated = 0
        self.pools = {name: TaskPool(name, self._brainstorm) for name, t in TASK_TYPES.items()
                      if t.fixed_instruction is None}  # fmt: skip
        self.dedup = Deduper()
        self.rows: list[dict] = []
        self.rejects: list[dict] = []
        self.reject_reasons: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejected_examples = 0
        self.calls_made = 0
        self.calls_cached = 0
        self.inflight = 0
        self.spent_prompt = sum(r.get("usage", [0, 0])[0] for r in journal.records.values())
        self.spent_completion = sum(r.get("usage", [0, 0])[1] for r in journal.records.values())
        self.cursor = 0
        self.stopped_by: str | None = None
        self._outcomes: dict[int, Outcome] = {}
        self._running: dict[int, asyncio.Task] = {}
        self._fatal: BaseException | None = None
        self._wakeup = asyncio.Event()
        self._draining = False  # target reached: calls in flight finish (they are paid for), none start

    # ---- money and limits -------------------------------------------------------------------
    @property
    def cost(self) -> float:
        return self.price.cost(self.spent_prompt, self.spent_completion)

    def _check_budget(self) -> None:
        if self._draining:
            raise BudgetReached("done")
        if len(self.journal.records) + self.inflight >= self.limits.max_calls:
            raise BudgetReached("max_calls")
        if self.limits.max_cost is not None and self.cost >= self.limits.max_cost:
            raise BudgetReached("max_cost")

    # ---- one call, answered by the journal or the backend ------------------------------------
    async def _call(self, key: str, prompt: str, max_tokens: int, schema: dict | None, est: int) -> dict:
        digest = prompt_hash(prompt)
        record = self.journal.get(key)
        if record is not None:
            if record["h"] != digest:
                raise JournalMismatch(
                    f"journal entry {key} was answered for another prompt: the templates or settings "
                    "changed since; rerun with the old ones or use a new --out"
                )
            self.calls_cached += 1
            return record
        self._check_budget()
        self.inflight += 1  # counted against --max-calls from here until the journal holds it
        seed = int.from_bytes(
            hashlib.blake2b(f"{self.plan.seed}:{key}".encode(), digest_size=4).digest(), "big"
        )
        try:
            try:
                # Backends bound their own in-flight work (the HTTP backend holds a slot only while a
                # request is on the wire, not while it backs off); the window in _want_more bounds ours.
                request = ChatRequest(key, prompt, max_tokens, schema, seed, est)
                completion = await self.backend.complete(request)
                record = {"k": key, "h": digest, "text": completion.text, "finish": completion.finish_reason,
                          "usage": [completion.prompt_tokens, completion.completion_tokens]}  # fmt: skip
            except RequestFailed as err:
                record = {"k": key, "h": digest, "error": err.reason}  # a failure is final for its key
            await self.journal.append(record)
        finally:
            self.inflight -= 1
        self.calls_made += 1
        usage = record.get("usage", [0, 0])
        self.spent_prompt += usage[0]
        self.spent_completion += usage[1]
        return record

    @staticmethod
    def _reject(key: str, call: PlannedCall | str, reason: str, detail: str, text: str | None) -> dict:
        """One rejected answer; `call` is the planned call, or the task type of a brainstorm."""
        if isinstance(call, str):
            return {
                "key": key,
                "task_type": call,
                "language": None,
                "reason": reason,
                "detail": detail,
                "answer": text,
            }
        return {"key": key, "task_type": call.task_type, "language": call.knobs["language"], "reason": reason,
                "detail": detail, "answer": text}  # fmt: skip

    # ---- step 1 -------------------------------------------------------------------------------
    async def _brainstorm(self, task_type: str, b: int) -> BrainstormResult:
        prompt = brainstorm_prompt(task_type)
        rejects = []
        for attempt in range(self.limits.max_reasks + 1):
            key = f"b:{task_type}:{b}:{attempt}"
            max_tokens = brainstorm_max_tokens(self.limits.max_tokens_cap)
            record = await self._call(key, prompt, max_tokens, None, estimate_prompt_tokens(prompt) + 600)
            if "error" in record:
                rejects.append(self._reject(key, task_type, "request_failed", record["error"], None))
                continue
            try:
                return BrainstormResult(validate_brainstorm(record["text"]), rejects)
            except Reject as r:
                rejects.append(self._reject(key, task_type, r.reason, r.detail, record["text"]))
        return BrainstormResult([], rejects)

    # ---- step 2 -------------------------------------------------------------------------------
    async def _generate(self, index: int) -> Outcome:
        call = self.plan[index]
        spec = TASK_TYPES[call.task_type]
        task = await self.pools[call.task_type].get(call.slot) if call.slot is not None else None
        prompt = generate_prompt(call, task)
        max_tokens = max_tokens_for(call.task_type, call.knobs, self.limits.max_tokens_cap)
        est = estimate_prompt_tokens(prompt) + completion_token_estimate(call.task_type, call.knobs)
        schema = json_schema(call.task_type)
        outcome = Outcome(call, task if spec.fixed_instruction is None else spec.fixed_instruction, None)
        for attempt in range(self.limits.max_reasks + 1):
            key = f"g:{index}:{attempt}"
            record = await self._call(key, prompt, max_tokens, schema, est)
            if "error" in record:
                outcome.rejects.append(self._reject(key, call, "request_failed", record["error"], None))
                continue
            if record["finish"] == "length":
                detail = f"cut at max_tokens={max_tokens}"
                outcome.rejects.append(self._reject(key, call, "truncated", detail, record["text"]))
                max_tokens = min(self.limits.max_tokens_cap, 2 * max_tokens)
                continue
            result = analyse(call.task_type, record["text"], call.knobs, self.language_check)
            if result.fields is None:
                outcome.rejects.append(self._reject(key, call, result.reason, result.detail, record["text"]))
                continue
            outcome.fields, outcome.key, outcome.fingerprints = result.fields, key, result.fingerprints
            return outcome
        return outcome

    async def _generate_or_stop(self, index: int) -> Outcome:
        try:
            return await self._generate(index)
        except BudgetReached as stop:
            if stop.which != "done":
                self.stopped_by = self.stopped_by or stop.which
            return Outcome(self.plan[index], None, None, incomplete=stop.which)

    def _done(self, index: int, task: asyncio.Task) -> None:
        self._running.pop(index, None)
        self._wakeup.set()
        if task.cancelled():
            return
        if task.exception() is not None:
            self._fatal = self._fatal or task.exception()
            return
        self._outcomes[index] = task.result()

    # ---- folding results in index order ------------------------------------------------------
    def _fold(self) -> None:
        while self.cursor in self._outcomes and len(self.rows) < self.limits.target:
            outcome = self._outcomes[self.cursor]
            if outcome.incomplete:
                return  # the prefix ends here until a later run finishes this call
            del self._outcomes[self.cursor]
            self.cursor += 1
            self._count_rejects(outcome.rejects)
            if outcome.fields is None:
                self.rejected_examples += 1
                continue
            row = self._row(outcome)
            if self.decontaminator and self.decontaminator.contaminated(
                [row["query"], row["positive"], row["negative"]]
            ):
                self.decontaminated += 1
                continue
            texts = (
                [row["query"]] if row["task_type"] == "classification" else [row["query"], row["positive"]]
            )
            duplicate = self.dedup.check(texts)
            if duplicate:
                self.duplicates[duplicate] += 1
            else:
                self.rows.append(row)
        if self.progress:
            self.progress.update(self)

    def _count_rejects(self, rejects: list[dict]) -> None:
        self.rejects.extend(rejects)
        self.reject_reasons.update(r["reason"] for r in rejects)

    def _row(self, outcome: Outcome) -> dict:
        call = outcome.call
        query, positive, negative = TASK_TYPES[call.task_type].to_row_fields(outcome.fields)
        content = json.dumps([call.task_type, outcome.task, query, positive, negative], ensure_ascii=False)
        template = TASK_TYPES[call.task_type].generate_template
        pair = (
            f"{call.knobs['language']}-{call.knobs['target_language']}"
            if call.task_type == "bitext"
            else None
        )
        return {
            "id": hashlib.sha256(content.encode()).hexdigest()[:16],
            "task_type": call.task_type,
            "instruction": outcome.task,
            "query": query,
            "positive": positive,
            "negative": negative,
            "language": call.knobs["language"],
            "language_pair": pair,
            "model": self.model,
            "source": "synthetic",
            "knobs": json.dumps(call.knobs, ensure_ascii=False, sort_keys=True),
            "template": template,
            "template_hash": template_hash(template),
            "call": outcome.key,
        }

    # ---- scheduling ---------------------------------------------------------------------------
    def _want_more(self, next_index: int) -> bool:
        if self.stopped_by or len(self._running) >= 2 * self.limits.concurrency:
            return False
        # Share of calls that became rows so far, pulled towards a prior while there are few.
        rate = max(0.05, (len(self.rows) + PRIOR_KEEP_RATE * 10) / (self.cursor + 10))
        outstanding = next_index - self.cursor
        return len(self.rows) + rate * outstanding < self.limits.target

    async def run(self) -> None:
        with fewer_gc_passes():
            await self._run()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_index = 0
        try:
            while True:
                self._fold()
                if self._fatal is not None:
                    raise self._fatal
                if len(self.rows) >= self.limits.target:
                    await self._drain()
                    break
                while self._want_more(next_index):
                    task = loop.create_task(self._generate_or_stop(next_index))
                    self._running[next_index] = task
                    task.add_done_callback(partial(self._done, next_index))
                    next_index += 1
                if not self._running:
                    break  # a budget stopped the run, or every call is folded
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            await self._cancel_all()

    async def _drain(self) -> None:
        """Let calls already sent finish into the journal, so a longer rerun gets them free."""
        self._draining = True
        pending = list(self._running.values()) + [t for p in self.pools.values() for t in p.inflight()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _cancel_all(self) -> None:
        pending = list(self._running.values())
        for pool in self.pools.values():
            pool.cancel()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.limits.target
