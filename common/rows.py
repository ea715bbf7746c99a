"""One row of a dataset dir: the contract between synth (which writes it) and train (which reads it).

The fields are written here once; the parquet schema (`ROW_SCHEMA`) and the columns training needs
(`TRAINING_REQUIRED`) are derived from them. See shared/design.md, "Dataset dir".

    Row(id="3f2a...", task_type="retrieval", instruction="Given a claim, retrieve evidence.",
        query="do bats see", positive="Most bats see well ...", negative="Bats hunt ...",
        language="en", language_pair=None, model="gpt-4o-mini", source="synthetic",
        knobs='{"clarity": "clear", ...}', template="retrieval_generate.j2",
        template_hash="9c1e...", call="g:17:0", passage_id=None, negative_dropped=None)

Rows grounded in a corpus (`--corpus`) carry the id of their positive passage; one answer of a
multi-hop type gives one row per passage it read. A row whose written negative failed its checks
(an optional field, `synth.checks.validate.Fields.dropped`) has `negative` None and the reason in
`negative_dropped`. `synth.mine` adds one optional column,
`MINED_NEGATIVES` (a list of strings), to a copy of a dir; `synth.judge` adds `JUDGE` (a JSON string).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

import pyarrow as pa


@dataclass(frozen=True)
class Row:
    id: str  # 16 hex digits of the SHA-256 of (task type, instruction, query, positive, negative)
    task_type: str  # one of synth.plan.tasks.TASK_TYPES
    instruction: str  # the task definition: brainstormed, built-in, or fixed (sts, bitext)
    query: str
    positive: str
    negative: str | None  # None: the row trains with in-batch negatives only
    language: str  # ISO code of the query's language
    language_pair: str | None  # "de-en" for bitext, else None
    model: str  # the generator
    source: str  # "synthetic", or the name of a labelled set
    knobs: str  # JSON of the knobs the call was sampled with, keys sorted
    template: str  # the step-2 template's file name
    template_hash: str  # its SHA-256, first 12 hex digits
    call: str  # the journal key of the answer, e.g. "g:17:0"
    passage_id: str | None = None  # grounded rows: the corpus passage that is the positive
    # Why the answer's written negative was dropped (the reject reason of an optional field, e.g.
    # "too_short"); None when it was kept or none was written. Such a row has `negative` None.
    negative_dropped: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)  # a plain dataclass: its __dict__ is exactly its fields


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Row))
_ARROW = {str: pa.string(), "str": pa.string(), "str | None": pa.string()}
ROW_SCHEMA = pa.schema([(f.name, _ARROW[f.type]) for f in fields(Row)])
TRAINING_REQUIRED = ("instruction", "query", "positive")  # non-empty strings in every row train reads
MINED_NEGATIVES = "mined_negatives"
JUDGE = "judge"  # synth.judge: JSON of the verdict (scores, or the relabel pick), null where unjudged


def row_id(task_type: str, instruction: str, query: str, positive: str, negative: str | None) -> str:
    content = json.dumps([task_type, instruction, query, positive, negative], ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()[:16]
