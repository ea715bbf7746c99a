"""Pools of brainstormed task definitions, one per asymmetric task type, with a bounded budget.

Brainstorm call b of a type always has the keys "b:{type}:{b}:{attempt}", and its answer is folded
into the pool in order of b, after exact and near-duplicate removal. The next call is prefetched so
that examples rarely wait on a brainstorm.

Brainstorming is bounded, because a weak model can spend a run's budget on it: by the time slot s
of a type is served, the type may have used at most `allowance(s)` brainstorm attempts (re-asks
included), a share of the example calls that slots 0..s stand for (`--brainstorm-share`). After
GIVE_UP_AFTER calls in a row that add no new task, the type stops brainstorming. A slot that the
allowed brainstorms did not reach reuses a task already in the pool (slot s -> task s mod n), and
a type whose brainstorms gave nothing at all uses its built-in fallback tasks (`synth.plan.tasks`).

Slot s gets the same task in every run with the same journal, however calls interleave: which
brainstorm calls slot s may see depends only on s and on the folded answers, never on how far
other slots have pushed the pool. So serving slot S alone folds exactly the brainstorm calls that
serving slots 0..S would (the conditions that stop the folding only become true as calls fold):
sharded runs rely on it, reading pools brainstormed once up to the largest slot they will need
(`synth.run.shards`).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from synth.checks.dedup import Deduper
from synth.run.ledger import BudgetReached

EXPECTED_NEW_TASKS_PER_CALL = 12  # about 20 asked for; duplicates and misses take some away (dry run)
GIVE_UP_AFTER = 2  # brainstorm calls in a row that add no new task before a type stops brainstorming


@dataclass
class BrainstormResult:
    tasks: list[str]  # valid task definitions of the answer (empty when every attempt failed)
    attempts: int  # journal records the call used: 1 + re-asks


class TaskPool:
    def __init__(
        self,
        task_type: str,
        fetch: Callable[[str, int], Awaitable[BrainstormResult]],
        *,
        examples_per_task: int = 3,
        share: float = 0.1,
        max_attempts: int = 3,
        fallback: tuple[str, ...] = (),
        prefetch: bool = True,
    ):
        self.task_type = task_type
        self.prefetch = prefetch  # off where answers are read from a pools dir: nothing to wait for
        self._fetch = fetch
        self.examples_per_task = examples_per_task
        self.share = share
        self.max_attempts = max_attempts
        self.fallback = fallback
        self.tasks: list[str] = []
        self.dedup = Deduper()
        self.duplicates: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # examples by where their task came from
        # Per folded brainstorm call, in order: attempts of the calls before it, pool size after it.
        self._attempts_before: list[int] = []
        self._tasks_after: list[int] = []
        self._gave_up_at: int | None = None  # the call after which brainstorming stopped
        self._attempts = 0
        self._dry_streak = 0
        self._inflight: dict[int, asyncio.Task] = {}
        self._lock = asyncio.Lock()

    @property
    def calls_folded(self) -> int:
        return len(self._tasks_after)

    @property
    def attempts(self) -> int:
        return self._attempts

    @property
    def gave_up(self) -> bool:
        return self._gave_up_at is not None

    def allowance(self, slot: int) -> int:
        """Brainstorm attempts the type may have used by the time slot `slot` is served.

        >>> TaskPool("retrieval", None, examples_per_task=3, share=0.1, max_attempts=3).allowance(99)
        30
        """
        return max(self.max_attempts, int(self.share * self.examples_per_task * (slot + 1)))

    def _may_fold_next(self, allowance: int) -> bool:
        return not self.gave_up and self._attempts < allowance

    def may_call_for(self, slot: int) -> bool:
        """Whether serving `slot` may still need a brainstorm call: the pool does not reach it yet and
        its allowance lets it brainstorm more. The runner reserves budget for that call."""
        return len(self.tasks) <= slot and self._may_fold_next(self.allowance(slot))

    def _start(self, b: int) -> asyncio.Task:
        if b not in self._inflight:
            task = asyncio.get_running_loop().create_task(self._fetch(self.task_type, b))
            # A prefetch the budget refused may never be awaited: its exception is looked at here.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._inflight[b] = task
        return self._inflight[b]

    def _prefetch(self, allowance: int) -> None:
        """Start the next brainstorm, and one spare while brainstorms are giving new tasks: a spare
        call that a dry pool never folds would be paid for nothing."""
        if not self.prefetch or not self._may_fold_next(allowance):
            return
        giving = self.calls_folded and not self._dry_streak  # the last brainstorm added tasks
        ahead = 2 if giving and allowance - self._attempts >= 2 else 1
        for b in range(self.calls_folded, self.calls_folded + ahead):
            self._start(b)

    async def get(self, slot: int) -> str:
        allowance = self.allowance(slot)
        self._prefetch(allowance)
        while len(self.tasks) <= slot and self._may_fold_next(allowance):
            async with self._lock:
                if len(self.tasks) > slot or not self._may_fold_next(allowance):
                    break
                await self._fold_next()
        task, source = self._task_for(slot, allowance)
        self.served[source] += 1
        return task

    def _task_for(self, slot: int, allowance: int) -> tuple[str, str]:
        """The task of `slot` from the calls its allowance covers; (task, "brainstormed" | "reused" |
        "fallback")."""
        seen = bisect_left(self._attempts_before, allowance)  # calls started within the allowance
        if self._gave_up_at is not None:
            seen = min(seen, self._gave_up_at + 1)
        visible = self._tasks_after[seen - 1] if seen else 0  # the pool as this slot may see it
        if visible > slot:
            return self.tasks[slot], "brainstormed"
        if visible:
            return self.tasks[slot % visible], "reused"
        if not self.fallback:
            raise ValueError(f"task type {self.task_type!r} has no brainstormed and no fallback tasks")
        return self.fallback[slot % len(self.fallback)], "fallback"

    async def _fold_next(self) -> None:
        b = self.calls_folded
        for last in (False, True):
            try:
                result = await self._start(b)
                break
            except BudgetReached:
                # A prefetch may have been refused before any slot waited on it (the budget gives a
                # call that a slot waits on more room: `Runner._send_brainstorm`): ask once more.
                del self._inflight[b]
                if last:
                    raise
        del self._inflight[b]
        before = len(self.tasks)
        for task in result.tasks:
            duplicate = self.dedup.check([task])
            if duplicate:
                self.duplicates[duplicate] += 1
            else:
                self.tasks.append(task)
        self._dry_streak = 0 if len(self.tasks) > before else self._dry_streak + 1
        self._attempts_before.append(self._attempts)
        self._tasks_after.append(len(self.tasks))
        self._attempts += result.attempts
        if self._dry_streak >= GIVE_UP_AFTER:
            self._gave_up_at = b

    def inflight(self) -> list[asyncio.Task]:
        return list(self._inflight.values())

    def cancel(self) -> None:
        for task in self._inflight.values():
            task.cancel()

    def stats(self) -> dict:
        return {
            "calls": self.calls_folded,
            "attempts": self._attempts,
            "tasks": len(self.tasks),
            "duplicates": {"exact": self.duplicates["exact"], "near": self.duplicates["near"]},
            "examples_on": {k: self.served[k] for k in ("brainstormed", "reused", "fallback")},
            "gave_up": self.gave_up,
        }
