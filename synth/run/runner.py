"""The async generation loop: plan -> prompt -> call (or journal) -> validate -> dedup -> row.

Calls run concurrently and finish in any order, but their results are folded into the data set
strictly in call-index order by a cursor. Which rows are kept, which are duplicates and every count
in stats.json therefore depend only on the answers in the journal, never on timing: a run killed
and resumed writes exactly the rows an uninterrupted run with the same answers would. New calls are
issued while the rows kept so far, plus the expected yield of calls still outstanding, fall short of
the target.

Budgets (--max-calls, --max-cost) are spent in call order: a call is issued only when the budget can
still pay for every attempt it may need (its re-asks, and the next brainstorm of its task type's pool
when its slot needs one), and those attempts are promised to it (`Reservation`) so that no later call
can take them. A budget stop therefore never strands a valid answer behind an earlier call it could
not finish; the last call of a budget gets whatever is left. A brainstorm that issued calls wait on
and that finds no budget free takes an attempt promised to the last of them (they cannot send before
it answers).

A run over an existing journal first replays it: calls are folded from their journaled answers alone,
in order, before any new request is sent, so the same command on a finished run makes no call, and a
resumed one sends only what the journal cannot answer.

Every call that reaches the server ends in the ledger (`synth.run.ledger`): calls in flight when the
target is met or a budget stops the run are waited for, not cancelled, and `settle` classifies every
journal record the fold did not reach, so stats.json always balances.

A shard (`synth.run.shards`) runs the same loop over its own calls, every N-th index, and takes its task
definitions from a pools dir instead of brainstorming; `brainstorm_until` is that pools step.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from synth.backends.base import Backend
from synth.checks.decontam import Decontaminator
from synth.dataset.row_parts import RowParts, call_index
from synth.plan.plan import (
    Plan,
    brainstorm_max_tokens,
    brainstorm_prompt,
)
from synth.plan.pricing import Price, estimate_prompt_tokens
from synth.plan.tasks import BRAINSTORM_SCHEMA, TASK_TYPES
from synth.run.allocator import return_large_frees_to_the_os
from synth.run.answers import classify_brainstorm, classify_example
from synth.run.call import Calls, budget_room
from synth.run.fold import Folder, Outcome
from synth.run.journal import Journal
from synth.run.ledger import BudgetReached, Entry, Ledger
from synth.run.pools import BrainstormResult, TaskPool
from synth.run.progress import Progress
from synth.run.shards import UNSHARDED, PoolSource, Shard, needed_slots, write_json_atomic
from synth.run.stats import RunTally

PRIOR_KEEP_RATE = 0.9
COST_PRIOR_TOKENS = 1000  # prompt and completion tokens one attempt is guessed at before any answer
COST_MARGIN = 1.25  # the expected cost of an attempt, over the mean of those answered so far
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


class NotJournaled(BudgetReached):
    """The replay of the journal reached a call it does not answer: the run proper asks it."""

    def __init__(self):
        super().__init__("journal")


@dataclass(slots=True)
class Reservation:
    """Attempts the budget promised to one issued call (or to a pool's next brainstorm), not yet used."""

    left: int


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
        self.folder = Folder(
            limits.target, model, self.ledger, parts, decontaminator, plan.corpus, start=shard.k, step=shard.n
        )
        self.pools = {
            name: TaskPool(
                name,
                pools_from.fetch if pools_from else self._brainstorm,
                examples_per_task=plan.examples_per_task,
                share=limits.brainstorm_share,
                max_attempts=limits.max_reasks + 1,
                fallback=t.fallback_tasks,
                prefetch=pools_from is None,
            )
            for name, t in TASK_TYPES.items()
            if t.instruction == "brainstorm"
        }
        # Tokens of answers already in the journal count against --max-cost: they were paid for.
        self.ledger.prompt_tokens, self.ledger.completion_tokens = journal.usage
        changed = "the templates or settings changed since; rerun with the old ones or use a new --out"
        self.calls = Calls(backend, journal, self.ledger, f"{plan.seed}:", changed, on_answer=self._show)
        self._status_at = 0.0
        self.stopped_by: str | None = None
        self._running: dict[int, asyncio.Task] = {}
        self._fatal: BaseException | None = None
        self._wakeup = asyncio.Event()
        self._draining = False  # target reached or budget hit: calls in flight finish (they are paid for)
        self._reserved = 0  # attempts promised to issued calls and pools, not yet used (`Reservation`)
        self._reservations: dict[int, Reservation] = {}  # by call index, while the call runs
        self._pool_reservations: dict[str, Reservation] = {}  # a pool's next brainstorm, by task type
        self._waiters: dict[str, set[int]] = {t: set() for t in self.pools}  # calls waiting on a pool
        self._replaying = False  # folding from the journal alone: nothing is sent
        self._journal_end = -1  # the largest example call index the journal holds
        self._redo: list[int] = []  # calls the replay could not finish, issued first after it

    # ---- money and limits -------------------------------------------------------------------
    @property
    def cost(self) -> float:
        return self.price.cost(self.ledger.prompt_tokens, self.ledger.completion_tokens)

    def _attempt_cost(self) -> float:
        """What one more attempt is expected to cost: the mean of the journal's calls (with a margin)
        once a few are in, a generous guess before."""
        if len(self.journal) >= 4:
            return COST_MARGIN * self.cost / len(self.journal)
        return self.price.cost(COST_PRIOR_TOKENS, COST_PRIOR_TOKENS)

    def _room(self) -> tuple[int, str]:
        """(attempts the budgets still allow beyond those sent and promised, the budget that binds)."""
        promised = self.calls.inflight + self._reserved
        each = self._attempt_cost() if self.limits.max_cost is not None else 0.0
        return budget_room(
            self.limits.max_calls, self.limits.max_cost, len(self.journal), promised, self.cost, each
        )

    def _take(self, reservation: Reservation | None, priority: int | None) -> None:
        """Let one attempt be sent: from its reservation, else from budget nobody was promised, else
        from the promise of the latest call issued after `priority` (the call index the attempt
        serves). The fold places rows in call order, so an earlier call's attempt is worth more than
        a later one's: without this, a call whose re-asks (or brainstorm) outran its promise found
        every attempt promised to later calls, and the valid answers behind it were stranded."""
        if self._replaying:
            raise NotJournaled()
        if self._draining:
            raise BudgetReached("done")
        if reservation is not None and reservation.left > 0:
            reservation.left -= 1
            self._reserved -= 1
            return
        room, which = self._room()
        if room >= 1:
            return
        later = [
            i for i, r in self._reservations.items() if r.left > 0 and (priority is None or i > priority)
        ]
        if priority is None or not later:
            raise BudgetReached(which)
        donor = self._reservations[max(later)]
        donor.left -= 1
        self._reserved -= 1

    def _priority(self, key: str) -> int | None:
        """The call index an attempt serves: an example call's own, or for a brainstorm the earliest
        call waiting on its pool (None: a prefetch nobody waits on yet)."""
        if call_step(key) == "examples":
            return call_index(key)
        waiters = self._waiters.get(key.split(":")[1])
        return min(waiters) if waiters else None

    def _reserve(self, reservation: Reservation, n: int) -> None:
        reservation.left += n
        self._reserved += n

    def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            self._reserved -= reservation.left
            reservation.left = 0

    def _brainstorm_reservation(self, key: str) -> Reservation | None:
        """Whose promised attempt brainstorm `key` may use when it is sent: its pool's, for the call
        the pool folds next; failing that and with no budget free, that of the last call waiting on
        the pool (it cannot send before this answers). A spare prefetch gets only free budget."""
        _, task_type, b, _ = key.split(":")
        if task_type not in self.pools or int(b) != self.pools[task_type].calls_folded:
            return None
        pool = self._pool_reservations.get(task_type)
        if pool is not None and pool.left > 0:
            return pool
        if self._room()[0] >= 1:
            return None
        waiting = [i for i in self._waiters[task_type] if self._reservations[i].left > 0]
        return self._reservations[max(waiting)] if waiting else None

    # ---- one call, answered by the journal or the backend ------------------------------------
    async def _call(
        self,
        key: str,
        prompt: str,
        max_tokens: int,
        schema: dict | None,
        est: int,
        reservation: Reservation | None = None,
    ) -> dict:
        """One attempt: its journaled answer, or a request paid from `reservation` (an example call's)
        or the free budget."""
        step = call_step(key)

        def take() -> None:
            self._take(
                reservation if step == "examples" else self._brainstorm_reservation(key), self._priority(key)
            )

        def reuse() -> None:
            if reservation is not None and reservation.left > 0:  # an attempt used, though paid before
                reservation.left -= 1
                self._reserved -= 1

        return await self.calls.ask(step, key, prompt, max_tokens, schema, est, take, reuse)

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.update(self.ledger, self.folder.kept, self.cost)
        if self.status_file is not None and time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self.write_status()

    def write_status(self, state: str = "running") -> None:
        """A few numbers for whoever watches this run from outside (the Ray driver's progress line)."""
        self._status_at = time.monotonic()
        examples = self.ledger.steps["examples"]
        write_json_atomic(
            self.status_file,
            {
                "pid": os.getpid(),
                "state": state,
                "rows": self.folder.kept,
                "target": self.limits.target,
                "calls": len(self.journal),
                "rejected": examples.rejected,
                "duplicates": examples.categories["duplicates"],
                "cost": round(self.cost, 6),
                "folded_until": self.folder.cursor,
            },
            fsync=False,
        )

    # ---- step 1 -------------------------------------------------------------------------------
    async def _brainstorm(self, task_type: str, b: int) -> BrainstormResult:
        prompt = brainstorm_prompt(task_type)
        max_tokens = brainstorm_max_tokens(self.limits.max_tokens_cap)
        est = estimate_prompt_tokens(prompt) + 600
        try:
            for attempt in range(self.limits.max_reasks + 1):
                key = f"b:{task_type}:{b}:{attempt}"
                record = await self._call(key, prompt, max_tokens, BRAINSTORM_SCHEMA, est)
                entry, answer = self._classify_brainstorm(record)
                self.ledger.record(key, entry)
                if answer is not None:
                    return BrainstormResult(answer.tasks, attempt + 1)
            return BrainstormResult([], self.limits.max_reasks + 1)
        finally:
            pool = self.pools.get(task_type)
            if pool is not None and b == pool.calls_folded:  # the call its pool's reservation was for
                self._release(self._pool_reservations.pop(task_type, None))

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
        reservation = self._reservations.get(index)
        task = None
        if call.slot is not None:
            waiters = self._waiters[call.task_type]
            waiters.add(index)  # its promised attempts may go to a brainstorm it waits on
            try:
                task = await self.pools[call.task_type].get(call.slot)
            finally:
                waiters.discard(index)
        texts = tuple(self.plan.corpus[p].text for p in call.passages)
        prompt = self.plan.prompt(call, task)
        max_tokens = self.plan.max_tokens(call, self.limits.max_tokens_cap)
        est = estimate_prompt_tokens(prompt) + self.plan.completion_estimate(call)
        schema = self.plan.schema(call, self.backend.string_lengths)
        outcome = Outcome(call, spec.fixed_instruction or task)
        queries = self.plan.queries(call)
        for attempt in range(self.limits.max_reasks + 1):
            key = f"g:{index}:{attempt}"
            record = await self._call(key, prompt, max_tokens, schema, est, reservation)
            entry, result = classify_example(
                call.task_type,
                call.knobs,
                record,
                self.language_check,
                max_tokens,
                texts,
                queries,
                self.plan.max_query_chars,
            )
            self.ledger.record(key, entry)
            if result is not None:
                outcome.answers, outcome.key, outcome.dropped = result.answers, key, result.dropped
                if spec.instruction == "answer":  # the answer wrote its own task definition
                    outcome.task = result.fields[spec.field("instruction").key]
                return outcome
            if entry.reason == "truncated" and queries == 1:
                max_tokens = min(self.limits.max_tokens_cap, 2 * max_tokens)
            # Several short queries fit their room with twice to spare: an answer cut with none of
            # them finished ran away inside one string (SmolLM2-135M: a URL of 80 path segments, a
            # list of digits), and more room would buy more of it. Re-asked at the same size.
        return outcome

    async def _generate_or_stop(self, index: int) -> Outcome:
        try:
            return await self._generate(index)
        except BudgetReached as stop:
            if stop.which not in ("done", "journal"):
                self.stopped_by = self.stopped_by or stop.which
            return Outcome(self.plan[index], None, incomplete=stop.which)
        finally:
            self._release(self._reservations.pop(index, None))

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
        """Whether to issue another call, `position` calls having been issued (the `position`-th call's
        index is `shard.index(position)`; calls the replay left unfinished go first)."""
        if self.stopped_by or len(self._running) >= 2 * self.limits.concurrency:
            return False
        if self._redo:  # earlier calls the fold needs, whatever the yield estimate says
            return True
        # Share of calls that became rows so far, pulled towards a prior while there are few.
        rows, folded = self.folder.kept, self.folder.folded
        rate = max(0.05, (rows + PRIOR_KEEP_RATE * 10) / (folded + 10))
        if rows + rate * (position - folded) >= self.limits.target:
            return False
        if self.pools_from is not None and self.shard.index(position) >= self.pools_from.covers:
            self.stopped_by = "pools"  # its task slots may lie past what the pools dir brainstormed
            return False
        return True

    def _admit(self, index: int) -> bool:
        """Whether call `index` may be issued now; if so, the attempts it may need are promised to it.

        It needs room in every budget for all its attempts (1 + --max-reasks), plus one brainstorm
        call of as many attempts when its task slot lies past its pool and no call issued before it
        has already reserved that. While other calls run, a call that does not fit waits for their
        unused attempts; with nothing else running it gets what is left, and with nothing left the
        budget has stopped the run."""
        if self._replaying:
            return index <= self._journal_end
        attempts = self.limits.max_reasks + 1
        call = self.plan[index]
        pool = self.pools.get(call.task_type) if self.pools_from is None else None
        for_pool = 0
        if (
            pool is not None
            and call.task_type not in self._pool_reservations
            and pool.may_call_for(call.slot)
        ):
            for_pool = attempts
        if not self._running:  # nothing waits on a pool: what was reserved for one is free again
            for task_type in list(self._pool_reservations):
                self._release(self._pool_reservations.pop(task_type))
        room, which = self._room()
        if room >= attempts + for_pool:
            self._reservations[index] = Reservation(0)
            self._reserve(self._reservations[index], attempts)
            if for_pool:
                self._pool_reservations[call.task_type] = Reservation(0)
                self._reserve(self._pool_reservations[call.task_type], for_pool)
            return True
        if not self._running and room >= 1:  # the budget's last call: what is left
            self._reservations[index] = Reservation(0)
            self._reserve(self._reservations[index], room)
            return True
        if not self._running:
            self.stopped_by = which
        return False

    async def run(self) -> None:
        return_large_frees_to_the_os()
        with fewer_gc_passes():
            await self._run()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        position = 0
        self._journal_end = max(
            (call_index(k) for k in self.journal.keys() if call_step(k) == "examples"), default=-1
        )
        self._replaying = self._journal_end >= 0
        try:
            while True:
                self._fold()
                if self._fatal is not None:
                    raise self._fatal
                if self.folder.complete:
                    break
                while self._want_more(position):
                    index = self._redo[0] if self._redo else self.shard.index(position)
                    if not self._admit(index):
                        break
                    if self._redo:
                        self._redo.pop(0)
                    else:
                        position += 1
                    task = loop.create_task(self._generate_or_stop(index))
                    self._running[index] = task
                    task.add_done_callback(partial(self._done, index))
                if not self._running:
                    if self._replaying:  # the journal answered what it could: ask the rest
                        self._replaying = False
                        self._redo = self.folder.take_unfinished("journal")
                        continue
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

    # ---- the pools step (synth.run.shards) ---------------------------------------------------------
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
                    call.task_type,
                    call.knobs,
                    record,
                    self.language_check,
                    None,
                    texts,
                    self.plan.queries(call),
                    self.plan.max_query_chars,
                )
            self.ledger.record(key, entry)
        why = "over_target" if self.complete else "after_unfinished_call"
        held = []
        for key, entry in list(self.ledger.entries.items()):
            if entry.category == "held":
                held.append(call_index(key))
                if entry.reason != why:
                    self.ledger.record(key, Entry("examples", "held", why))
        if held and not self.complete:  # valid answers the fold could not reach, and what stopped it
            behind = self.folder.unfinished_before(
                max(held) + 1
            )  # a journaled answer Ctrl-C kept from the fold waits on itself
            self.ledger.waiting, self.ledger.waiting_behind_count = len(held), len(behind)
            self.ledger.waiting_behind = behind[:5]
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
            yield {
                "key": key,
                "step": entry.step,
                "task_type": task_type,
                "language": language,
                "reason": entry.reason,
                "detail": entry.detail,
                "answer": self.journal.get(key).get("text"),
            }

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
