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
    # Used only when brainstorming gave no task at all (a weak model): see synth.pools.
    fallback_tasks: tuple[str, ...] = ()

    @property
    def brainstorm_template(self) -> str | None:
        return None if self.fixed_instruction else f"{self.name}_brainstorm.j2"

    @property
    def generate_template(self) -> str:
        return f"{self.name}_generate.j2"

    def to_row_fields(self, obj: dict[str, str]) -> tuple[str, str, str | None]:
        negative = obj[self.negative_key] if self.negative_key else None
        return obj[self.query_key], obj[self.positive_key], negative


# Step-1 answers are a JSON list of task definitions; guided decoding needs an object at the root
# (OpenAI's structured outputs), so guided brainstorms get {"tasks": [...]}, which validation accepts.
BRAINSTORM_SCHEMA = {
    "type": "object",
    "properties": {"tasks": {"type": "array", "items": {"type": "string"}}},
    "required": ["tasks"],
    "additionalProperties": False,
}

FALLBACK_RETRIEVAL = (
    "Given a question about a health symptom, retrieve articles that explain its likely causes and treatments.",
    "Given a short web search query, retrieve web pages that answer it.",
    "Given a programming error message, retrieve forum posts that explain how to fix it.",
    "Given a claim made in a news story, retrieve documents that support or refute it.",
    "Given a shopper's question about a product, retrieve reviews and descriptions that answer it.",
    "Given a tenant's legal question, retrieve passages of laws or guides that address it.",
    "Given the title of a scientific paper, retrieve abstracts of papers on the same problem.",
    "Given a traveller's question about a city, retrieve guide passages that help plan the visit.",
)
FALLBACK_CLASSIFICATION = (
    "Classify the sentiment of a customer review as positive, negative or neutral.",
    "Classify a news headline by its topic, such as politics, sports, business or science.",
    "Classify an email as spam or not spam.",
    "Identify the intent of a customer's message to a banking assistant.",
    "Classify a support ticket by the product area it concerns.",
    "Classify a social media post by the emotion it expresses.",
    "Classify a question by the kind of answer it expects, such as a person, a place, a number or a date.",
    "Classify a recipe description by the cuisine it belongs to.",
)
FALLBACK_SHORT_SHORT = (
    "Given a question, retrieve questions that ask the same thing in other words.",
    "Given a news headline, retrieve headlines about the same event.",
    "Given a search query, retrieve product titles that match it.",
    "Given the name of a dish, retrieve short descriptions of that dish.",
    "Given a short phrase, retrieve phrases with the same meaning.",
    "Given the title of a song, retrieve the names of albums that include it.",
)
FALLBACK_LONG_LONG = (
    "Given a scientific abstract, retrieve abstracts of papers that build on the same idea.",
    "Given a news article, retrieve other articles that report the same event.",
    "Given a patent description, retrieve earlier patents on a similar invention.",
    "Given a long question posted on a forum, retrieve threads that discuss the same problem.",
    "Given an essay that argues one side of a debate, retrieve essays that argue the other side.",
    "Given a product's full description, retrieve descriptions of competing products.",
)

TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType("retrieval", ("user_query", "positive_document", "hard_negative_document"),
                 "user_query", "positive_document", "hard_negative_document", 167_000,
                 fallback_tasks=FALLBACK_RETRIEVAL),
        TaskType("classification", ("input_text", "label", "misleading_label"),
                 "input_text", "label", "misleading_label", 122_000,
                 fallback_tasks=FALLBACK_CLASSIFICATION),
        TaskType("sts", ("S1", "S2", "S3"), "S1", "S2", "S3", 99_000,
                 fixed_instruction="Retrieve semantically similar text."),
        TaskType("bitext", ("S1", "S2", "S3"), "S1", "S2", "S3", 89_000,
                 fixed_instruction="Retrieve parallel sentences."),
        TaskType("long_long", ("input", "positive_document"), "input", "positive_document", None, 17_000,
                 fallback_tasks=FALLBACK_LONG_LONG),
        TaskType("short_short", ("input", "positive_document"), "input", "positive_document", None, 13_000,
                 fallback_tasks=FALLBACK_SHORT_SHORT),
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


def fit_to_languages(
    task_mix: dict[str, float], languages: int, named: bool
) -> tuple[dict[str, float], str | None]:
    """Drop bitext from a mix when there is only one language to translate between.

    Returns (mix, notice): a one-line notice when bitext was left out of the default mix. Raises
    ValueError when the user named bitext (`named`) or nothing would be left."""
    if languages >= 2 or "bitext" not in task_mix:
        return task_mix, None
    if named:
        raise ValueError(
            "--languages: bitext needs at least two languages (or leave bitext out of --task-types)"
        )
    rest = {k: v for k, v in task_mix.items() if k != "bitext"}
    if not rest:
        raise ValueError("--languages: bitext needs at least two languages, and no other task type is left")
    return rest, "note: one language given, so bitext (which pairs two languages) is left out of the task mix"
