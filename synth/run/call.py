"""One attempt, answered by the journal or paid for: the one place a prompt becomes a request and a record.

The generator (`synth.run.runner`) and the judge (`synth.judge.run`) both ask through `Calls.ask`:

    journal has the key -> the prompt's hash must match (else JournalMismatch), nothing is sent
    else                -> the caller's budget lets it go (`take` raises BudgetReached if not),
                           the request is sent with a seed derived from the key, and its answer or
                           final failure is appended to the journal (fsynced) before anyone uses it

and both ledgers see each record once (`Ledger.answered`). A request cut off in flight (Ctrl-C, a
fatal error elsewhere) is counted as abandoned: it is not in the journal, and a rerun asks it again.

`budget_room` is the one rule both budgets share: how many more attempts --max-calls and --max-cost
allow beyond those already sent or promised, and which of the two binds.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from synth.backends.base import Backend, ChatRequest, RequestFailed
from synth.plan.plan import prompt_hash
from synth.run.journal import Journal, JournalMismatch
from synth.run.ledger import Ledger


def budget_room(
    max_calls: int | None,
    max_cost: float | None,
    calls: int,
    promised: int,
    cost: float,
    attempt_cost: float,
) -> tuple[int, str]:
    """(attempts the budgets still allow beyond the `calls` journaled and the `promised` ones sent or
    reserved, the budget that binds). `attempt_cost` 0 means: spend until the cost is reached."""
    room, which = (max_calls - calls - promised if max_calls is not None else 1 << 62), "max_calls"
    if max_cost is not None:
        left = max_cost - cost
        by_cost = int(left // attempt_cost) - promised if attempt_cost > 0 else (room if left > 0 else 0)
        if by_cost < 1 and left > 0 and not promised:
            by_cost = 1  # nothing else out: one call at a time until the money is spent
        if by_cost < room:
            room, which = by_cost, "max_cost"
    return room, which


@dataclass
class Calls:
    backend: Backend
    journal: Journal
    ledger: Ledger
    seed_salt: str  # mixed into each call's seed (the generator's --seed); "" for none
    changed: str  # what a JournalMismatch says changed, and what to do about it
    on_answer: Callable[[], None] | None = None  # after each paid answer (the progress bar)
    inflight: int = 0  # sent and not yet journaled: counted against --max-calls meanwhile

    def seed(self, key: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(f"{self.seed_salt}{key}".encode(), digest_size=4).digest(), "big"
        )

    async def ask(
        self,
        step: str,
        key: str,
        prompt: str,
        max_tokens: int,
        schema: dict | None,
        est: int,
        take: Callable[[], None],
        reuse: Callable[[], None] | None = None,
    ) -> dict:
        """The journal record of attempt `key`: read back (then `reuse` is told), or paid now once
        `take` lets it go. `est` is the prompt-plus-answer token estimate the backend schedules by."""
        digest = prompt_hash(prompt)
        record = self.journal.get(key)
        if record is not None:
            if record["h"] != digest:
                raise JournalMismatch(f"journal entry {key} was answered for another prompt: {self.changed}")
            if key not in self.ledger.entries:  # a call the replay left unfinished reads it again
                self.ledger.answered(step, record, paid_now=False)
            if reuse is not None:
                reuse()
            return record
        take()
        self.inflight += 1
        try:
            try:
                # Backends bound their own in-flight work (the HTTP backend holds a slot only while a
                # request is on the wire, not while it backs off); callers bound how many they issue.
                request = ChatRequest(key, prompt, max_tokens, schema, self.seed(key), est)
                completion = await self.backend.complete(request)
                self.backend.counters.prompt_tokens += completion.prompt_tokens
                self.backend.counters.cached_prompt_tokens += completion.cached_tokens
                record = {
                    "k": key,
                    "h": digest,
                    "text": completion.text,
                    "finish": completion.finish_reason,
                    "usage": [completion.prompt_tokens, completion.completion_tokens],
                }
            except RequestFailed as err:
                record = {"k": key, "h": digest, "error": err.reason}  # a failure is final for its key
            except asyncio.CancelledError:
                self.ledger.abandoned += 1  # sent (or about to be), never answered
                raise
            self.ledger.answered(step, record, paid_now=True)
            if self.on_answer is not None:
                self.on_answer()
            await self.journal.append(record)
        finally:
            self.inflight -= 1
        return record
