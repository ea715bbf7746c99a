"""Folding step-2 outcomes into rows, strictly in call-index order.

Calls finish in any order; their outcomes wait here until every earlier call has been folded. Then
each valid answer becomes a row, a duplicate (exact or near, on the fingerprints computed with its
validation) or a decontaminated drop, and the ledger moves it out of `held`. Which rows are kept
therefore depends only on the answers in the journal, never on timing: a resumed run writes exactly
the rows an uninterrupted run with the same answers would.

    outcomes 2, 0 arrive -> fold: row 0 (call 1 still out, so 2 waits) -> 1 arrives -> fold: 1, 2

Rows are not kept in memory: each placed answer goes to `synth.dataset.row_parts` (kept rows and duplicates,
with their verdict), and the fold keeps only counts and the dedup index. A shard (`synth.run.shards`)
folds its own calls, every `step`-th index from `start`, the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from common.rows import Row, row_id
from synth.checks.decontam import Decontaminator
from synth.checks.dedup import Deduper
from synth.dataset.row_parts import RowParts
from synth.plan.plan import PlannedCall
from synth.plan.render import template_hash
from synth.plan.tasks import TASK_TYPES
from synth.run.answers import dedup_texts
from synth.run.ledger import KEPT, Entry, Ledger
from synth.run.stats import RowCounts

if TYPE_CHECKING:
    from synth.corpus import Passage


@dataclass
class Outcome:
    """What step-2 call `call.index` came to: its valid answer (under journal key `key`), or none when
    every attempt failed; `incomplete` when a budget stopped it before it finished. `task` is the
    row's instruction: brainstormed, fixed, or written by the answer itself."""

    call: PlannedCall
    task: str | None
    # The valid answer's one-query answers, each with the fingerprints of its dedup texts (computed
    # with the validation): one, or one per query of a call asked for several. Empty: no valid answer.
    answers: list[tuple[dict[str, str], list]] = field(default_factory=list)
    key: str = ""
    incomplete: str | None = None
    dropped: list[str] = field(default_factory=list)  # why each query left out of the answer was


def make_rows(
    outcome: Outcome, fields: dict[str, str], model: str, passages: Sequence[Passage] = ()
) -> list[Row]:
    """The rows of one answer of `outcome` (`fields`): one, or one per corpus passage it read (they
    are its positives)."""
    call = outcome.call
    spec = TASK_TYPES[call.task_type]
    query, positive, negative = spec.to_row_fields(fields)
    template = spec.generate_template
    common = dict(
        task_type=call.task_type,
        instruction=outcome.task,
        query=query,
        negative=negative,
        language=call.knobs["language"],
        language_pair=spec.language_pair(call.knobs),
        model=model,
        source="synthetic",
        knobs=json.dumps(call.knobs, ensure_ascii=False, sort_keys=True),
        template=template,
        template_hash=template_hash(template),
        call=outcome.key,
        negative_dropped=spec.negative_dropped(fields),
    )
    if not passages:
        return [
            Row(
                id=row_id(call.task_type, outcome.task, query, positive, negative),
                positive=positive,
                **common,
            )
        ]
    return [
        Row(
            id=row_id(call.task_type, outcome.task, query, p.text, negative),
            positive=p.text,
            passage_id=p.id,
            **common,
        )
        for p in passages
    ]


class Folder:
    def __init__(
        self,
        target: int,
        model: str,
        ledger: Ledger,
        parts: RowParts | None,
        decontaminator: Decontaminator | None = None,
        corpus: Mapping[str, Passage] | None = None,
        start: int = 0,
        step: int = 1,
    ):
        self.target = target
        self.corpus = corpus or {}
        self.model = model
        self.ledger = ledger
        self.parts = parts
        self.decontaminator = decontaminator
        self.dedup = Deduper()
        self.counts = RowCounts()
        self.step = step
        self.cursor = start  # the next call index to fold
        self.folded = 0  # calls folded
        self.rejected_examples = 0  # example calls whose every attempt was rejected or failed
        self._waiting: dict[int, Outcome] = {}

    @property
    def kept(self) -> int:
        return self.counts.rows

    @property
    def complete(self) -> bool:
        return self.counts.rows >= self.target

    def add(self, outcome: Outcome) -> None:
        self._waiting[outcome.call.index] = outcome

    def fold(self) -> None:
        """Fold the outcomes that continue the prefix, up to the target; an incomplete outcome ends
        the prefix until a later run finishes its call."""
        while self.cursor in self._waiting and not self.complete:
            outcome = self._waiting[self.cursor]
            if outcome.incomplete:
                return
            del self._waiting[self.cursor]
            self.cursor += self.step
            self.folded += 1
            if not outcome.answers:
                self.rejected_examples += 1
            else:
                self._place(outcome)

    def take_unfinished(self, why: str) -> list[int]:
        """Take back the outcomes cut short for `why` (their calls are asked again), in call order."""
        indices = sorted(i for i, o in self._waiting.items() if o.incomplete == why)
        for i in indices:
            del self._waiting[i]
        return indices

    def unfinished_before(self, index: int) -> list[int]:
        """The calls from the cursor up to, not including, `index` with no finished outcome: what
        holds back the valid answers that wait behind them."""
        return [
            i
            for i in range(self.cursor, index, self.step)
            if i not in self._waiting or self._waiting[i].incomplete
        ]

    @property
    def waiting_valid(self) -> int:
        """Valid answers that wait for an earlier call before the fold can place them."""
        return sum(1 for o in self._waiting.values() if o.answers)

    def flush(self) -> None:
        """Write the rows folded so far to disk (the end of a run, however it ended)."""
        if self.parts is not None:  # None: a pools step, which folds no examples
            self.parts.flush(self.cursor)

    def release_index(self) -> None:
        """Let the dedup index go once nothing more will be folded: the largest thing a long run
        holds, and the writing of the data file and card needs the memory more."""
        self.dedup = None

    def _place(self, outcome: Outcome) -> None:
        """Each answer of the call becomes its rows, decontaminated, a duplicate or kept; the call is
        kept when one of its answers is (a call asked for several queries gives a row per query)."""
        passages = [self.corpus[p] for p in outcome.call.passages]
        rows: list[dict] = []
        verdicts: list[str | None] = []  # one per row
        answer_verdicts: list[str | None] = []  # one per answer
        for fields, fingerprints in outcome.answers:
            answer = [r.as_dict() for r in make_rows(outcome, fields, self.model, passages)]
            if self.decontaminator and any(
                self.decontaminator.contaminated([r["query"], r["positive"], r["negative"]]) for r in answer
            ):
                verdict = "decontaminated"
            else:
                verdict = self.dedup.check(dedup_texts(outcome.call.task_type, fields), fingerprints)
                if verdict is None:
                    for row in answer:
                        self.counts.add(row)
            rows += answer
            verdicts += [verdict] * len(answer)
            answer_verdicts.append(verdict)
        self.counts.queries_dropped.update(outcome.dropped)
        if None in answer_verdicts:
            entry = KEPT
            # the call's other queries that gave no row: the ledger counts calls, this counts them
            self.counts.queries_dropped.update(v for v in answer_verdicts if v is not None)
        elif "decontaminated" in answer_verdicts:
            entry = Entry("examples", "decontaminated")
        else:
            entry = Entry("examples", "duplicates", answer_verdicts[0])
        self.ledger.record(outcome.key, entry)
        self.parts.add(outcome.call.index, rows, verdicts)
