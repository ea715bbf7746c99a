"""Every task type, declared once: knobs, answer keys and their roles, length rules, languages,
dedup fields (see `synth.plan.task_spec` for what each entry means, and shared/design.md).

The paper's six types write every example from scratch; sts and bitext have no brainstorm step, their
instruction is fixed. A new task type is one entry here plus its templates in prompts/.
"""

from __future__ import annotations

from synth.plan.knobs import (
    CLARITY,
    CLASSIFICATION_NUM_WORDS,
    DIFFICULTY_ASYMMETRIC,
    DIFFICULTY_SYMMETRIC,
    HIGH_SCORES,
    LONG_LONG_MIN_WORDS,
    LOW_SCORES_BITEXT,
    LOW_SCORES_STS,
    QUERY_LENGTHS,
    QUERY_TYPES,
    RETRIEVAL_NUM_WORDS,
    SHORT_SHORT_MAX_WORDS,
    UNIT_MAX_WORDS,
    UNIT_TYPICAL_WORDS,
    UNITS,
)
from synth.plan.task_spec import Field, Knob, Length, TaskType
from synth.plan.weights import parse_weighted

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

LANGUAGE = Knob(name="language", language="run")
DIFFICULTY = Knob(name="difficulty", values=DIFFICULTY_ASYMMETRIC)
UNIT_LENGTH = Length(at_most=UNIT_MAX_WORDS, typical=UNIT_TYPICAL_WORDS, by="unit")
SHORT_TEXT = Length(at_most=SHORT_SHORT_MAX_WORDS, typical=15)
LONG_TEXT = Length(at_least=LONG_LONG_MIN_WORDS)


def _symmetric_knobs(low_scores: tuple[float, ...], *languages: Knob) -> tuple[Knob, ...]:
    return (
        *languages,
        Knob(name="unit", values=UNITS),
        Knob(name="high_score", values=HIGH_SCORES),
        Knob(name="low_score", values=low_scores),
        Knob(name="difficulty", values=DIFFICULTY_SYMMETRIC),
    )


def _declare(*types: TaskType) -> dict[str, TaskType]:
    return {t.name: t for t in types}


TASK_TYPES: dict[str, TaskType] = _declare(
    TaskType(
        name="retrieval",
        instruction="brainstorm",
        paper_count=167_000,
        fallback_tasks=FALLBACK_RETRIEVAL,
        brainstorm_examples=(
            "Given a scientific claim as the query, find documents that support or refute it.",
            "Given a question a parent might ask about children's nutrition, find documents that answer it.",
        ),
        knobs=(
            LANGUAGE,
            Knob(name="query_type", values=QUERY_TYPES),
            Knob(name="query_length", values=QUERY_LENGTHS),
            Knob(name="clarity", values=CLARITY),
            Knob(name="num_words", values=RETRIEVAL_NUM_WORDS),
            DIFFICULTY,
        ),
        fields=(
            Field(key="user_query", role="query", typical_words=15, dedup=True),
            Field(
                key="positive_document",
                role="positive",
                detect=True,
                length=Length(at_least="num_words"),
                dedup=True,
            ),
            Field(key="hard_negative_document", role="negative", length=Length(at_least="num_words")),
        ),
        distinct=(("positive_document", "hard_negative_document", "positive_equals_negative"),),
        query_not_in_documents=True,
    ),
    TaskType(
        name="classification",
        instruction="brainstorm",
        paper_count=122_000,
        fallback_tasks=FALLBACK_CLASSIFICATION,
        knobs=(
            LANGUAGE,
            Knob(name="num_words", values=CLASSIFICATION_NUM_WORDS),
            Knob(name="clarity", values=CLARITY),
            DIFFICULTY,
        ),
        # Labels are category names, often kept in English by the LLM and fine for training: no language,
        # and never a dedup text (many rows share a label by design).
        fields=(
            Field(key="input_text", role="query", detect=True, length=Length(spec="num_words"), dedup=True),
            Field(key="label", role="positive", language=None, typical_words=5),
            Field(key="misleading_label", role="negative", language=None, typical_words=5),
        ),
        distinct=(("label", "misleading_label", "label_equals_misleading"),),
    ),
    TaskType(
        name="sts",
        instruction="fixed",
        paper_count=99_000,
        fixed_instruction="Retrieve semantically similar text.",
        knobs=_symmetric_knobs(LOW_SCORES_STS, LANGUAGE),
        fields=(
            Field(key="S1", role="query", detect=True, length=UNIT_LENGTH, dedup=True),
            Field(key="S2", role="positive", length=UNIT_LENGTH, dedup=True),
            Field(key="S3", role="negative", length=UNIT_LENGTH),
        ),
        distinct=(("S2", "S3", "positive_equals_negative"), ("S1", "S2", "query_equals_positive")),
    ),
    TaskType(
        name="bitext",
        instruction="fixed",
        paper_count=89_000,
        fixed_instruction="Retrieve parallel sentences.",
        knobs=_symmetric_knobs(
            LOW_SCORES_BITEXT,
            Knob(name="language", language="run", var="source_language"),
            Knob(name="target_language", language="other"),
        ),
        # Both sides are checked, and the bad translation S3 too: it is the likeliest to slip.
        fields=(
            Field(key="S1", role="query", detect=True, length=UNIT_LENGTH, dedup=True),
            Field(
                key="S2",
                role="positive",
                language="target_language",
                detect=True,
                length=UNIT_LENGTH,
                dedup=True,
            ),
            Field(key="S3", role="negative", language="target_language", detect=True, length=UNIT_LENGTH),
        ),
        distinct=(("S2", "S3", "positive_equals_negative"), ("S1", "S2", "query_equals_positive")),
    ),
    TaskType(
        name="long_long",
        instruction="brainstorm",
        paper_count=17_000,
        fallback_tasks=FALLBACK_LONG_LONG,
        brainstorm_examples=(
            "Given a document that argues one side of a debate, find a document that argues the other side.",
            "Given a long business proposal, find competing business strategies in the same industry.",
        ),
        knobs=(LANGUAGE,),
        fields=(
            Field(key="input", role="query", length=LONG_TEXT, dedup=True),
            Field(key="positive_document", role="positive", detect=True, length=LONG_TEXT, dedup=True),
        ),
        query_not_in_documents=True,
    ),
    TaskType(
        name="short_short",
        instruction="brainstorm",
        paper_count=13_000,
        fallback_tasks=FALLBACK_SHORT_SHORT,
        brainstorm_examples=(
            "Given the title of a scientific paper, find the paper's abstract.",
            "Given the name of a company, find a list of its products.",
        ),
        knobs=(LANGUAGE,),
        # Both short: the detector reads both.
        fields=(
            Field(key="input", role="query", detect=True, length=SHORT_TEXT, dedup=True),
            Field(key="positive_document", role="positive", detect=True, length=SHORT_TEXT, dedup=True),
        ),
        query_not_in_documents=True,
    ),
    # Grounded in the user's corpus (--corpus): the LLM reads passages and writes a query they answer;
    # the passages are the positives. The query's language is a knob like any other,
    # so cross-lingual queries come free; the passage's own language is the user's and is not checked.
    TaskType(
        name="grounded_query",
        instruction="fixed",
        passages=1,
        corpus_weight=4,
        fixed_instruction="Given a search query, retrieve passages of this collection that answer it.",
        several_queries=True,
        knobs=(
            LANGUAGE,
            Knob(name="query_type", values=QUERY_TYPES),
            Knob(name="query_length", values=QUERY_LENGTHS),
            Knob(name="clarity", values=CLARITY),
            DIFFICULTY,
        ),
        # The instruction is fixed, not written: against SmolLM2-135M a written one copied the prompt's
        # example in 26 of 40 calls (1 valid answer); without it 21 of 40 were valid, and 27 with the
        # query asked about "a term or topic the passage is about" (README, "Grounded prompt designs").
        fields=(
            Field(key="query", role="query", typical_words=12, dedup=True),
            Field(
                key="hard_negative",
                role="negative",
                language=None,
                optional=True,
                length=Length(of_passage=0.5, typical=150),
            ),
        ),
        query_not_in_documents=True,
    ),
    TaskType(
        name="multi_hop",
        instruction="answer",
        passages=3,
        corpus_weight=1,
        knobs=(LANGUAGE, Knob(name="hops", values=(2, 3)), Knob(name="clarity", values=CLARITY), DIFFICULTY),
        fields=(
            Field(
                key="task",
                role="instruction",
                language=None,
                typical_words=20,
                starts_with="Given",
                example="Given a question that combines facts from several reports, retrieve the passages "
                "that together answer it.",
            ),
            Field(key="query", role="query", typical_words=25, dedup=True),
        ),
        query_not_in_documents=True,
    ),
)


def task_type(name: str) -> TaskType:
    """The declaration of `name`, or one error listing the declared types."""
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown task type {name!r}; declared: {', '.join(TASK_TYPES)}") from None


def default_weight(name: str) -> float:
    """A type's share of its family's default mix: the paper's types by their example counts, the
    grounded types by their corpus weights."""
    spec = TASK_TYPES[name]
    family = [t for t in TASK_TYPES.values() if bool(t.passages) == bool(spec.passages)]
    weight = (lambda t: t.corpus_weight) if spec.passages else (lambda t: t.paper_count)
    return (weight(spec) or 1) / (sum(weight(t) for t in family) or 1)


def parse_task_mix(task_types: str | None, task_mix: str | None, corpus: bool = False) -> dict[str, float]:
    """Weights per task type: the default mix (the paper's counts; with a corpus, the grounded types'
    weights), restricted by `--task-types a,b` or set by `--task-mix a:0.7,b:0.3` (a bare name in
    --task-mix keeps its default share)."""
    if task_types and task_mix:
        raise ValueError("--task-types and --task-mix: give one of them, not both")
    spec = task_mix or task_types
    if not spec:
        weights = {n: float(t.corpus_weight if corpus else t.paper_count) for n, t in TASK_TYPES.items()}
        return {n: w for n, w in weights.items() if w}
    flag = "--task-mix" if task_mix else "--task-types"
    mix = parse_weighted(spec, flag, TASK_TYPES, default_weight, "task type", allow_weights=bool(task_mix))
    grounded = [n for n in mix if TASK_TYPES[n].passages]
    if grounded and not corpus:
        raise ValueError(f"{flag}: {', '.join(grounded)} read passages of a corpus: give --corpus")
    return mix


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
