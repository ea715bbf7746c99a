"""Where every paid call went: one category per journal record, and the balance in stats.json.

A call is a journal record: a request that reached the server and got a final answer, or failed
for good after its retries. Each one ends in exactly one category of its step:

    brainstorm: useful (it gave at least one valid task definition), rejected (with a reason), errors
    examples:   kept, held, duplicates, decontaminated, rejected (with a reason), errors

`held` answers are valid but not in this dataset: they came past --num-examples, or after a call
that the run could not finish (a budget stop); a rerun with a larger target folds them in free.
So, in stats.json and in the summary:

    calls = brainstorm (useful + rejected + errors)
          + examples (kept + held + duplicates + decontaminated + rejected + errors)

The judge keeps the same ledger with its one step (`JUDGE_CATEGORIES`): kept, dropped, rejected, errors.

The runner records each category as soon as it is decided, which is what the progress bar shows
live; `Runner.settle` classifies the records it never reached (answers that arrived after the
target was met, prefetched brainstorms, calls a budget or Ctrl-C cut short) with the same checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

STEPS = ("brainstorm", "examples")
CATEGORIES = {
    "brainstorm": ("useful", "rejected", "errors"),
    "examples": ("kept", "held", "duplicates", "decontaminated", "rejected", "errors"),
}
JUDGE_CATEGORIES = {"judge": ("kept", "dropped", "rejected", "errors")}


class BudgetReached(Exception):
    """A budget flag (or the target: "done") stops a call before it is sent; `which` names it."""

    def __init__(self, which: str):
        super().__init__(which)
        self.which = which


@dataclass(frozen=True, slots=True)  # one per journal record: no per-instance __dict__
class Entry:
    step: str  # "brainstorm" | "examples" (the judge: "judge")
    category: str  # one of the ledger's categories of that step
    reason: str = (
        ""  # rejected: the check that failed; errors: why the request failed; duplicates: exact|near
    )
    detail: str = ""


# Entries without a reason, shared: most records of a large run are kept rows.
KEPT = Entry("examples", "kept")
HELD = Entry("examples", "held")


@dataclass
class StepTally:
    """Live counts of one step, as the progress bar and the summary show them."""

    calls: int = 0  # journal records seen by this run (paid now or read back)
    made: int = 0  # of which paid by this run
    used_tokens: list[int] = field(default_factory=lambda: [0, 0])  # prompt, completion of those calls
    categories: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # (category, reason) -> n

    @property
    def rejected(self) -> int:
        return self.categories["rejected"]

    def why(self, category: str) -> dict[str, int]:
        """Counts of one category by reason, most frequent first: rejects by check, duplicates by
        kind, errors by cause, held answers by why they were held."""
        counts = Counter({r: n for (c, r), n in self.reasons.items() if c == category and n > 0})
        return dict(counts.most_common())


@dataclass
class Ledger:
    """Every journal key of this run -> its Entry, with live tallies per step."""

    categories: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: CATEGORIES
    )  # step -> its categories
    entries: dict[str, Entry] = field(default_factory=dict)
    steps: dict[str, StepTally] = field(init=False)
    task_definitions: Counter = field(default_factory=Counter)  # "valid" and rejected items by reason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    abandoned: int = 0  # calls cut off in flight (Ctrl-C): sent, never answered, not in the journal
    # Valid answers left waiting behind calls the run did not finish, and those calls' indices (the
    # first few): set by `Runner.settle`.
    waiting: int = 0
    waiting_behind: list[int] = field(default_factory=list)
    waiting_behind_count: int = 0

    def __post_init__(self) -> None:
        self.steps = {s: StepTally() for s in self.categories}

    def answered(self, step: str, record: dict, paid_now: bool) -> None:
        """A journal record reached this run: paid now, or read back from the journal."""
        tally = self.steps[step]
        tally.calls += 1
        usage = record.get("usage", (0, 0))
        tally.used_tokens[0] += usage[0]
        tally.used_tokens[1] += usage[1]
        if paid_now:  # answers read back were paid by an earlier run and counted at start
            tally.made += 1
            self.prompt_tokens += usage[0]
            self.completion_tokens += usage[1]

    def record(self, key: str, entry: Entry) -> None:
        """Set (or move, e.g. held -> kept) the category of one journal record."""
        assert entry.category in self.categories[entry.step], (
            f"{entry.category!r} is no {entry.step} category"
        )
        old = self.entries.get(key)
        if old is not None:
            self._count(old, -1)
        self.entries[key] = entry
        self._count(entry, +1)

    def _count(self, entry: Entry, sign: int) -> None:
        tally = self.steps[entry.step]
        tally.categories[entry.category] += sign
        if entry.reason:
            tally.reasons[entry.category, entry.reason] += sign

    def category(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry.category if entry else None

    def rejects(self) -> dict[str, dict[str, int]]:
        """Rejected answers by reason, per step, most frequent first."""
        return {s: self.steps[s].why("rejected") for s in self.categories}

    def balance(self, calls: int) -> dict:
        """The accounting section of stats.json: every call in one category, and whether they add up."""
        out: dict = {"calls": calls}
        total = 0
        for step, categories in self.categories.items():
            tally = self.steps[step]
            counts = {c: tally.categories[c] for c in categories}
            total += sum(counts.values())
            out[step] = {
                "calls": sum(counts.values()),
                **counts,
                "rejects": tally.why("rejected"),
                "errors_by_cause": tally.why("errors"),
            }
            if step == "brainstorm":
                useful = tally.why("useful")  # salvaged_truncated: the items a cut answer finished
                out[step]["useful_why"] = {r: n for r, n in useful.items() if r}
            if step == "examples":
                out[step]["held_why"] = tally.why("held")
                valid = sum(counts[c] for c in ("kept", "held", "duplicates", "decontaminated"))
                out[step]["waiting"] = {
                    "answers": self.waiting,
                    "valid": valid,
                    "behind": self.waiting_behind,
                    "behind_count": self.waiting_behind_count,
                }
        out["balanced"] = total == calls
        return out
