"""The six task types of the paper and how each one's LLM output maps onto a training row.

Step-2 answers carry task-specific keys (see shared/design.md); `to_row_fields` maps them onto
(query, positive, negative). sts and bitext have no brainstorm step: their instruction is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from synth.weights import parse_weighted


@dataclass(frozen=True)
class TaskType:
    name: str
    keys: tuple[str, ...]  # the exact keys of the step-2 JSON object
    query_key: str
    positive_key: str
    negative_key: str | None
    paper_count: int  # examples of this type in the paper's 500k-example data set
    fixed_instruction: str | None = None  # set for types without a brainstorm step

    @property
    def brainstorm_template(self) -> str | None:
        return None if self.fixed_instruction else f"{self.name}_brainstorm.j2"

    @property
    def generate_template(self) -> str:
        return f"{self.name}_generate.j2"

    def to_row_fields(self, obj: dict[str, str]) -> tuple[str, str, str | None]:
        negative = obj[self.negative_key] if self.negative_key else None
        return obj[self.query_key], obj[self.positive_key], negative


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType("retrieval", ("user_query", "positive_document", "hard_negative_document"),
                 "user_query", "positive_document", "hard_negative_document", 167_000),
        TaskType("classification", ("input_text", "label", "misleading_label"),
                 "input_text", "label", "misleading_label", 122_000),
        TaskType("sts", ("S1", "S2", "S3"), "S1", "S2", "S3", 99_000,
                 fixed_instruction="Retrieve semantically similar text."),
        TaskType("bitext", ("S1", "S2", "S3"), "S1", "S2", "S3", 89_000,
                 fixed_instruction="Retrieve parallel sentences."),
        TaskType("long_long", ("input", "positive_document"), "input", "positive_document", None, 17_000),
        TaskType("short_short", ("input", "positive_document"), "input", "positive_document", None, 13_000),
    )
}  # fmt: skip


def parse_task_mix(task_types: str | None, task_mix: str | None) -> dict[str, float]:
    """Weights per task type: the paper's counts, restricted by `--task-types a,b` or set by
    `--task-mix a:0.7,b:0.3` (a bare name in --task-mix keeps its paper weight)."""
    if task_types and task_mix:
        raise ValueError("--task-types and --task-mix: give one of them, not both")
    spec = task_mix or task_types
    if not spec:
        return {name: float(t.paper_count) for name, t in TASK_TYPES.items()}
    flag = "--task-mix" if task_mix else "--task-types"
    paper = {name: float(t.paper_count) for name, t in TASK_TYPES.items()}
    return parse_weighted(
        spec, flag, TASK_TYPES, paper.__getitem__, "task type", allow_weights=bool(task_mix)
    )
