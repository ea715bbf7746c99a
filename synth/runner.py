"""The async generation loop: plan -> prompt -> call (or journal) -> validate -> dedup -> row.

Calls run concurrently and finish in any order, but their results are folded into the data set
strictly in call-index order by a cursor. Which rows are kept, which are duplicates and every count
in stats.json therefore depend only on the answers in the journal, never on timing: a run killed
and resumed writes exactly the rows an uninterrupted run with the same answers would. New calls are
issued while the rows kept so far, plus the expected yield of calls still outstanding, fall short of
the target.

Every call that reaches the server ends in the ledger (`synth.ledger`): calls in flight when the
target is met or a budget stops the run are waited for, not cancelled, and `settle` classifies every
journal record the fold did not reach, so stats.json always balances.

A shard (`synth.shards`) runs the same loop over its own calls, every N-th index, and takes its task
definitions from a pools dir instead of brainstorming; `brainstorm_until` is that pools step.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from synth.allocator import return_large_frees_to_the_os
from synth.answers import classify_brainstorm, classify_example
from synth.backends.base import Backend, ChatRequest, RequestFailed
from synth.decontam import Decontaminator
from synth.fold import Folder, Outcome
from synth.journal import Journal, JournalMismatch
from synth.ledger import BudgetReached, Entry, Ledger
from synth.plan import (
    Plan,
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
from synth.row_parts import RowParts, call_index
from synth.shards import UNSHARDED, PoolSource, Shard, needed_slots, write_json_atomic
from synth.stats import RunTally
from synth.tasks import BRAINSTORM_SCHEMA, TASK_TYPES
from synth.validate import json_schema

PRIOR_KEEP_RATE = 0.9
STATUS_EVERY_S = 1.0  # how often a run with a status file (a Ray shard) rewrites it


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


@dataclass
class Limits:
    target: int
    max_reasks: int
    max_calls: int
    max_cost: float | None
    concurrency: int
    max_tokens_cap: int
    brainstorm_share: float = 0.1


def call_step(key: str) -> str:
    return "brainstorm" if key.startswith("b:") else "examples"


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
        *,
        parts: RowParts | None,
        shard: Shard = UNSHARDED,
        pools_from: PoolSource | None = None,
        status_file: os.PathLike | None = None,
    ):
        self.backend = backend
        self.journal = journal
        self.plan = plan
        self.limits = limits
        self.price = price
        self.progress = progress
        self.language_check = language_check
        self.shard = shard
        self.pools_from = pools_from
        self.status_file = status_file
        self.ledger = Ledger()
        self.folder = Folder(limits.target, model, self.ledger, parts, decontaminator, plan.corpus,
                             start=shard.k, step=shard.n)  # fmt: skip
        self.pools = {
            name: TaskPool(
                name,
                pools_from.fetch if pools_from else self._brainstorm,
                examples_per_task=plan.examples_per_task,
                share=limits.brainstorm_share,
                max_attempts=limits.max_reasks + 1,
                fallback=t.fallback_tasks,
                prefetch=pools_from is None,
            )  # fmt: skip
            for name, t in TASK_TYPES.items()
            if t.instruction == "brainstorm"
        }
        # Tokens of answers already in the journal count against --max-cost: they were paid for.
        self.ledger.prompt_tokens, self.ledger.completion_tokens = journal.usage
        self._status_at = 0.0
        self.inflight = 0
        self.stopped_by: str | None = None
        self._running: dict[int, asyncio.Task] = {}
        self._fatal: BaseException | None = None
        self._wakeup = asyncio.Event()
        self._draining = False  # target reached or budget hit: calls in flight finish (they are paid for)

    # ---- money and limits -------------------------------------------------------------------
    @property
    def cost(self) -> float:
        return self.price.cost(self.ledger.prompt_tokens, self.ledger.completion_tokens)

    def _check_budget(self) -> None:
        if self._draining:
            raise BudgetReached("done")
        if len(self.journal) + self.inflight >= self.limits.max_calls:
            raise BudgetReached("max_calls")
        if self.limits.max_cost is not None and self.cost >= self.limits.max_cost:
            raise BudgetReached("max_cost")

    # ---- one call, answered by the journal or the backend ------------------------------------
    async def _call(self, key: str, prompt: str, max_tokens: int, schema: dict | None, est: int) -> dict:
        digest = prompt_hash(prompt)
        step = call_step(key)
        record = self.journal.get(key)
        if record is not None:
            if record["h"] != digest:
                raise JournalMismatch(
                    f"journal entry {key} was answered for another prompt: the templates or settings "
                    "changed since; rerun with the old ones or use a new --out"
                )
            self.ledger.answered(step, record, paid_now=False)
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
            except asyncio.CancelledError:
                self.ledger.abandoned += 1  # sent (or about to be), never answered: Ctrl-C or a fatal error
                raise
            self.ledger.answered(step, record, paid_now=True)
            self._show()
            await self.journal.append(record)
        finally:
            self.inflight -= 1
        return record

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.update(self.ledger, self.folder.kept, self.cost)
        if self.status_file is not None and time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self.write_status()

    def write_status(self, state: str = "running") -> None:
        """A few numbers for whoever watches this run from outside (the Ray driver's progress line)."""
        self._status_at = time.monotonic()
        examples = self.ledger.steps["examples"]
        write_json_atomic(self.status_file, {
            "pid": os.getpid(), "state": state, "rows": self.folder.kept, "target": self.limits.target,
            "calls": len(self.journal), "rejected": examples.rejected, "duplicates": examples.categories["duplicates"],
            "cost": round(self.cost, 6), "folded_until": self.folder.cursor,
        }, fsync=False)  # fmt: skip

    # ---- step 1 -------------------------------------------------------------------------------
    async def _brainstorm(self, task_type: str, b: int) -> BrainstormResult:
        prompt = brainstorm_prompt(task_type)
        max_tokens = brainstorm_max_tokens(self.limits.max_tokens_cap)
        est = estimate_prompt_tokens(prompt) + 600
        for attempt in range(self.limits.max_reasks + 1):
            key = f"b:{task_type}:{b}:{attempt}"
            record = await self._call(key, prompt, max_tokens, BRAINSTORM_SCHEMA, est)
            entry, answer = self._classify_brainstorm(record)
            self.ledger.record(key, entry)
            if answer is not None:
                return BrainstormResult(answer.tasks, attempt + 1)
        return BrainstormResult([], self.limits.max_reasks + 1)

    def _classify_brainstorm(self, record: dict):
        entry, answer = classify_brainstorm(record)
        if answer is not None:
            self.ledger.task_definitions["valid"] += len(answer.tasks)
            self.ledger.task_definitions.update(item["reason"] for item in answer.rejected)
        return entry, answer

    # ---- step 2 -------------------------------------------------------------------------------
    async def _generate(self, index: int) -> Outcome:
        call = self.plan[index]
        spec = TASK_TYPES[call.task_type]
        task = await self.pools[call.task_type].get(call.slot) if call.slot is not None else None
        passages = [self.plan.corpus[p] for p in call.passages]
        texts = tuple(p.text for p in passages)
        prompt = generate_prompt(call, task, passages)
        max_tokens = max_tokens_for(call.task_type, call.knobs, self.limits.max_tokens_cap)
        est = estimate_prompt_tokens(prompt) + completion_token_estimate(call.task_type, call.knobs)
        schema = json_schema(call.task_type)
        outcome = Outcome(call, spec.fixed_instruction or task, None)
        for attempt in range(self.limits.max_reasks + 1):
            key = f"g:{index}:{attempt}"
            record = await self._call(key, prompt, max_tokens, schema, est)
            entry, result = classify_example(
                call.task_type, call.knobs, record, self.language_check, max_tokens, texts
            )
            self.ledger.record(key, entry)
            if result is not None:
                outcome.fields, outcome.key, outcome.fingerprints = result.fields, key, result.fingerprints
                if spec.instruction == "answer":  # the answer wrote its own task definition
                    outcome.task = result.fields[spec.field("instruction").key]
                return outcome
            if entry.reason == "truncated":
                max_tokens = min(self.limits.max_tokens_cap, 2 * max_tokens)
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
        self.folder.add(task.result())

    def _fold(self) -> None:
        self.folder.fold()
        self._show()

    # ---- scheduling ---------------------------------------------------------------------------
    def _want_more(self, position: int) -> bool:
        """Whether to issue this run's `position`-th call (its call index is `shard.index(position)`)."""
        if self.stopped_by or len(self._running) >= 2 * self.limits.concurrency:
            return False
        # Share of calls that became rows so far, pulled towards a prior while there are few.
        rows, folded = self.folder.kept, self.folder.folded
        rate = max(0.05, (rows + PRIOR_KEEP_RATE * 10) / (folded + 10))
        if rows + rate * (position - folded) >= self.limits.target:
            return False
        if self.pools_from is not None and self.shard.index(position) >= self.pools_from.covers:
            self.stopped_by = "pools"  # its task slots may lie past what the pools dir brainstormed
            return False
        return True

    async def run(self) -> None:
        return_large_frees_to_the_os()
        with fewer_gc_passes():
            await self._run()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        position = 0
        try:
            while True:
                self._fold()
                if self._fatal is not None:
                    raise self._fatal
                if self.folder.complete:
                    break
                while self._want_more(position):
                    index = self.shard.index(position)
                    task = loop.create_task(self._generate_or_stop(index))
                    self._running[index] = task
                    task.add_done_callback(partial(self._done, index))
                    position += 1
                if not self._running:
                    break  # a budget stopped the run, or every call is folded
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._drain()
            self._fold()  # answers that arrived while draining may extend the prefix
            if self._fatal is not None:
                raise self._fatal
        finally:
            await self._cancel_all()  # after a drain nothing is left; on an error or Ctrl-C, calls in flight

    async def _drain(self) -> None:
        """Let calls already sent finish into the journal: they are paid for, they get counted, and a
        longer rerun uses them free. No new call starts (`_check_budget` refuses while draining)."""
        self._draining = True
        while True:
            pending = list(self._running.values()) + [t for p in self.pools.values() for t in p.inflight()]
            pending = [t for t in pending if not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- the pools step (synth.shards) ---------------------------------------------------------
    async def brainstorm_until(self, cover: int) -> None:
        """Brainstorm, once, every task slot that calls below `cover` use: the pools sharded runs read."""
        with fewer_gc_passes():
            try:
                slots = needed_slots(self.plan, cover, set(self.pools))
                done = await asyncio.gather(
                    *(self.pools[t].get(slot) for t, slot in slots.items()), return_exceptions=True
                )
                for result in done:
                    if isinstance(result, BudgetReached):
                        self.stopped_by = self.stopped_by or result.which
                    elif isinstance(result, BaseException):
                        raise result
                await self._drain()
            finally:
                await self._cancel_all()

    async def _cancel_all(self) -> None:
        pending = list(self._running.values())
        for pool in self.pools.values():
            pool.cancel()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- the ledger's last word ---------------------------------------------------------------
    def settle(self) -> None:
        """Classify every journal record the run did not place: answers that arrived past the target
        or while draining, prefetched brainstorms, calls cut short by a budget or Ctrl-C. Valid
        answers among them stay `held` for a longer rerun. Makes no calls."""
        unplaced = [key for key in self.journal.keys() if key not in self.ledger.entries]
        for key in sorted(unplaced, key=_order):  # the plan is read in rising call order
            record = self.journal.get(key)
            if call_step(key) == "brainstorm":
                entry, _ = self._classify_brainstorm(record)
            else:
                call = self.plan[call_index(key)]
                texts = tuple(self.plan.corpus[p].text for p in call.passages)
                entry, _ = classify_example(
                    call.task_type, call.knobs, record, self.language_check, None, texts
                )
            self.ledger.record(key, entry)
        why = "over_target" if self.complete else "after_unfinished_call"
        for key, entry in list(self.ledger.entries.items()):
            if entry.category == "held" and entry.reason != why:
                self.ledger.record(key, Entry("examples", "held", why))
        self._show()

    def _rejected(self) -> list[tuple[str, Entry, str | None, str | None]]:
        """(key, entry, task type, language) of every rejected answer, in call order."""
        out = []
        keys = [k for k, e in self.ledger.entries.items() if e.category == "rejected"]
        for key in sorted(keys, key=_order):
            entry = self.ledger.entries[key]
            if entry.step == "brainstorm":
                out.append((key, entry, key.split(":")[1], None))
            else:
                call = self.plan[call_index(key)]
                out.append((key, entry, call.task_type, call.knobs["language"]))
        return out

    def rejects(self) -> Iterator[dict]:
        """Every rejected answer with its reason, for .synth/rejects.jsonl: read from the journal one
        at a time."""
        for key, entry, task_type, language in self._rejected():
            yield {"key": key, "step": entry.step, "task_type": task_type, "language": language,
                   "reason": entry.reason, "detail": entry.detail,
                   "answer": self.journal.get(key).get("text")}  # fmt: skip

    @property
    def complete(self) -> bool:
        return self.folder.complete

    def tally(self, journaled: int | None = None) -> RunTally:
        """What stats.json is made of, typed: the runner's state is not read past this point."""
        decontaminator = self.folder.decontaminator
        wrong: dict[str, Counter] = {"wrong_language": Counter(), "wrong_script": Counter()}
        for _, entry, _, language in self._rejected():
            if entry.reason in wrong:
                wrong[entry.reason][language] += 1
        return RunTally(
            rows=self.folder.counts,
            target=self.limits.target,
            ledger=self.ledger,
            journaled=len(self.journal) if journaled is None else journaled,
            rejected_examples=self.folder.rejected_examples,
            examples_folded=self.folder.folded,
            pools={t: p.stats() for t, p in self.pools.items() if p.calls_folded or sum(p.served.values())},
            counters=self.backend.counters,
            price=self.price,
            cost=self.cost,
            rejects=self.rejects,
            wrong_language=wrong["wrong_language"],
            wrong_script=wrong["wrong_script"],
            decontamination=None
            if decontaminator is None
            else {
                "sets": [str(p) for p in decontaminator.paths],
                "texts_indexed": decontaminator.texts_indexed,
            },
        )


def _order(key: str) -> tuple[int, int, str]:
    """Journal keys in call order: example calls by index, brainstorms after them."""
    if call_step(key) == "brainstorm":
        return (1, 0, key)
    return (0, call_index(key), key)
