"""Pools of brainstormed task definitions, one per asymmetric task type.

Brainstorm call b of a type always has the key "b:{type}:{b}:{attempt}", and its answer is folded
into the pool in order of b, after exact and near-duplicate removal. Slot s of the pool is therefore
the same task in every run that has the same journal, however the calls were interleaved. Calls are
prefetched ahead of demand so that examples rarely wait on a brainstorm.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from synth.dedup import Deduper

EXPECTED_NEW_TASKS_PER_CALL = 12  # about 20 asked for; duplicates and misses take some away


@dataclass
class BrainstormResult:
    tasks: list[str]
    rejects: list[dict] = field(default_factory=list)


class TaskPool:
    def __init__(self, task_type: str, fetch: Callable[[str, int], Awaitable[BrainstormResult]]):
        self.task_type = task_type
        self._fetch = fetch
        self.tasks: list[str] = []
        self.dedup = Deduper()
        self.duplicates: Counter[str] = Counter()
        self.rejects: list[dict] = []
        self.calls_folded = 0
        self._inflight: dict[int, asyncio.Task] = {}
        self._lock = asyncio.Lock()

    def _start(self, b: int) -> asyncio.Task:
        if b not in self._inflight:
            self._inflight[b] = asyncio.get_running_loop().create_task(self._fetch(self.task_type, b))
        return self._inflight[b]

    async def get(self, slot: int) -> str:
        # Prefetch every brainstorm this slot is likely to need, plus one spare.
        want = self.calls_folded + max(0, slot - len(self.tasks)) // EXPECTED_NEW_TASKS_PER_CALL + 1
        for b in range(self.calls_folded, want + 1):
            self._start(b)
        while len(self.tasks) <= slot:
            async with self._lock:
                if len(self.tasks) > slot:
                    break
                await self._fold_next()
        return self.tasks[slot]

    async def _fold_next(self) -> None:
        b = self.calls_folded
        self._start(b + 1)
        result = await self._start(b)
        del self._inflight[b]
        self.calls_folded += 1
        self.rejects.extend(result.rejects)
        for task in result.tasks:
            duplicate = self.dedup.check([task])
            if duplicate:
                self.duplicates[duplicate] += 1
            else:
                self.tasks.append(task)

    def inflight(self) -> list[asyncio.Task]:
        return list(self._inflight.values())

    def cancel(self) -> None:
        for task in self._inflight.values():
            task.cancel()
