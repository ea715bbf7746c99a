"""What a task type declaration holds, and the behaviour read from it.

A task type (declared in `synth.plan.tasks`) says everything the generator does differently for it: the
knobs its step-2 prompt is sampled with, the keys of its JSON answer and what each key becomes in a
row, the length each long field was asked to have, the language each text was asked in (and which
fields the language detector reads), which texts dedup compares, which pairs must differ, where its
instruction comes from, and how many corpus passages its prompt reads. Sampling, validation, the
language check, dedup, token estimates and row building all read the declaration; nothing else
names a task type. A half-declared type fails when `synth.plan.tasks` is imported, in one error.

    TaskType(name="sts", instruction="fixed", fixed_instruction="Retrieve semantically similar text.",
             knobs=(Knob(name="language", language="run"), Knob(name="unit", values=UNITS), ...),
             fields=(Field(key="S1", role="query", detect=True, length=Length(at_most=..., by="unit")),
                     Field(key="S2", role="positive", ...), Field(key="S3", role="negative", ...)),
             distinct=(("S2", "S3", "positive_equals_negative"), ("S1", "S2", "query_equals_positive")))
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from prompts import TEMPLATE_DIR
from synth.plan.languages import language_name

Scalar = str | int | float


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Knob(_Declared):
    """One sampled knob. Language knobs draw from the run's language mix (`run`), or from it minus
    the `language` knob's value (`other`: bitext's target); their value is an ISO code, rendered into
    the template as the language's name."""

    name: str
    values: tuple[Scalar, ...] = ()  # drawn uniformly; empty for language knobs
    language: Literal["run", "other"] | None = None
    var: str | None = None  # the template variable, when it is not `name`

    @model_validator(mode="after")
    def _one_source(self) -> Knob:
        if bool(self.values) == bool(self.language):
            raise ValueError(f"knob {self.name!r}: give either values or language, not both or neither")
        return self


class Length(_Declared):
    """The words a field was asked to have, resolved against the call's knobs.

    at_least / at_most: words, or (at_least) the name of a knob holding them; at_most and typical
    may be keyed by the value of knob `by`; `spec` names a knob reading "less than N" / "at least N";
    `of_passage`: at least this share of the words of the corpus passage the prompt showed.

    >>> Length(spec="num_words").resolve({"num_words": "less than 10"})
    (1, 10)
    """

    at_least: int | str | None = None
    at_most: int | dict[str, int] | None = None
    spec: str | None = None
    by: str | None = None
    typical: int | dict[str, int] | None = None  # what a compliant answer usually has (token estimates)
    of_passage: float | None = None

    def knob_names(self) -> set[str]:
        names = {n for n in (self.spec, self.by) if n}
        return names | ({self.at_least} if isinstance(self.at_least, str) else set())

    def resolve(self, knobs: dict, passage_words: int = 0) -> tuple[int, int | None]:
        """(minimum, maximum or None) words asked."""
        if self.of_passage is not None:
            return max(1, round(self.of_passage * passage_words)), None
        if self.spec is not None:
            value = str(knobs[self.spec])
            n = int(value.split()[-1])
            return (1, n) if value.startswith("less") else (n, None)
        low = (
            self.at_least
            if isinstance(self.at_least, int)
            else int(knobs[self.at_least])
            if self.at_least
            else 1
        )
        high = self.at_most[str(knobs[self.by])] if isinstance(self.at_most, dict) else self.at_most
        return low, high

    def expected(self, knobs: dict) -> float:
        """Words a compliant answer is likely to hold (LLMs overshoot "at least N")."""
        if self.typical is not None:
            return self.typical[str(knobs[self.by])] if isinstance(self.typical, dict) else self.typical
        low, high = self.resolve(knobs)
        return 0.8 * high if high is not None else 1.3 * low


class Field(_Declared):
    """One key of the step-2 JSON answer."""

    key: str
    role: Literal["instruction", "query", "positive", "negative", "other"]
    language: Literal["language", "target_language"] | None = "language"  # the knob naming its language
    detect: bool = False  # the language detector reads it (one long field per language is enough)
    length: Length | None = None  # a long field: the length rule applies
    typical_words: int = 0  # for token estimates of a field without a length
    dedup: bool = False  # dedup compares it
    # May be missing or empty (a grounded query's hard negative); when it fails its own checks it is
    # dropped with the reason and the answer stands on the other fields. Only a negative: a row's one
    # nullable text.
    optional: bool = False
    # What the step-2 prompt shows of this field, as template variables (`examples[key]`,
    # `starts_with[key]`), so the prompt and the checks read one text: an answer repeating the
    # example is rejected `copied_example`; an instruction not starting with `starts_with` `task_form`.
    example: str | None = None
    starts_with: str | None = None


class TaskType(_Declared):
    name: str
    instruction: Literal["brainstorm", "fixed", "answer"]  # where a row's instruction comes from
    fields: tuple[Field, ...]
    knobs: tuple[Knob, ...]
    paper_count: int = 0  # its weight in the default mix (examples in the paper's 500k); 0: not in it
    corpus_weight: int = 0  # its weight in the default mix of a --corpus run; 0: not in it
    fixed_instruction: str | None = None
    fallback_tasks: tuple[str, ...] = ()  # used when brainstorming gave no task (synth.run.pools)
    passages: int = (
        0  # corpus passages its prompt reads (a `hops` knob may ask fewer); they are the positives
    )
    # Its prompt may ask for several queries of one passage in one call (`--queries-per-call`): the
    # passage is read once for all of them, and each query becomes a row of its own.
    several_queries: bool = False
    distinct: tuple[tuple[str, str, str], ...] = ()  # (key, key, reject reason): must not be the same text
    query_not_in_documents: bool = False  # a long query copied into a document is rejected
    # The example tasks its step-1 prompt shows (`examples` in the brainstorm template); a brainstormed
    # task repeating one is set aside as `copied_example`.
    brainstorm_examples: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _whole(self) -> TaskType:
        keys = [f.key for f in self.fields]
        roles = [f.role for f in self.fields]
        knobs = {k.name for k in self.knobs}
        problems = []
        if len(set(keys)) != len(keys):
            problems.append("a key is declared twice")
        if roles.count("query") != 1:
            problems.append("exactly one field must have role 'query'")
        if roles.count("positive") != (0 if self.passages else 1):
            problems.append("one 'positive' field, or none when the passages are the positives")
        if roles.count("negative") > 1:
            problems.append("at most one 'negative' field")
        if (self.instruction == "answer") != ("instruction" in roles):
            problems.append("an 'instruction' field exactly when instruction='answer'")
        if (self.instruction == "fixed") != (self.fixed_instruction is not None):
            problems.append("fixed_instruction exactly when instruction='fixed'")
        if self.instruction == "brainstorm" and not self.fallback_tasks:
            problems.append("a brainstormed type needs fallback_tasks")
        if self.brainstorm_examples and self.instruction != "brainstorm":
            problems.append("brainstorm_examples are for brainstormed types")
        if "language" not in knobs:
            problems.append("a 'language' knob")
        if self.several_queries and (self.passages != 1 or self.instruction != "fixed"):
            problems.append("several_queries is for types that read one passage under a fixed instruction")
        if self.corpus_weight and not self.passages:
            problems.append("corpus_weight is for types that read passages")
        for f in self.fields:
            if f.optional and (f.role != "negative" or f.detect):
                problems.append(
                    f"field {f.key!r}: only a 'negative' field the language detector skips may be optional"
                )
            if f.starts_with and f.role != "instruction":
                problems.append(f"field {f.key!r}: starts_with is for the 'instruction' field")
            if f.language and f.language not in knobs:
                problems.append(f"field {f.key!r}: no knob {f.language!r}")
            if f.length and not f.length.knob_names() <= knobs:
                problems.append(f"field {f.key!r}: its length names unknown knobs")
        for a, b, _ in self.distinct:
            if not {a, b} <= set(keys):
                problems.append(f"distinct ({a}, {b}): not keys of the answer")
        for template in filter(None, (self.generate_template, self.brainstorm_template)):
            if not (TEMPLATE_DIR / template).is_file():
                problems.append(f"no template prompts/{template}")
        if problems:
            raise ValueError(f"task type {self.name!r}: " + "; ".join(problems))
        return self

    # ---- templates ------------------------------------------------------------------------------
    @property
    def brainstorm_template(self) -> str | None:
        return f"{self.name}_brainstorm.j2" if self.instruction == "brainstorm" else None

    @property
    def generate_template(self) -> str:
        return f"{self.name}_generate.j2"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if not f.optional)

    # ---- knobs ----------------------------------------------------------------------------------
    def sample_knobs(self, rng: random.Random, languages) -> dict:
        """One call's knobs, drawn in declaration order from `rng` (languages: a WeightedChoice)."""
        knobs: dict = {}
        for k in self.knobs:
            if k.language == "run":
                knobs[k.name] = languages(rng)
            elif k.language == "other":
                knobs[k.name] = languages(rng, exclude=knobs["language"])
            else:
                knobs[k.name] = rng.choice(k.values)
        return knobs

    def template_variables(self, knobs: dict) -> dict:
        """Knobs as the template sees them (language codes become names), and the examples and
        forms the declaration sets for its fields."""
        out: dict = {
            "examples": self.examples(),
            "starts_with": {f.key: f.starts_with for f in self.fields if f.starts_with},
        }
        for k in self.knobs:
            value = knobs[k.name]
            out[k.var or k.name] = language_name(value) if k.language else value
        return out

    def examples(self) -> dict[str, str]:
        """{key: the example text its step-2 prompt shows}."""
        return {f.key: f.example for f in self.fields if f.example}

    # ---- answers --------------------------------------------------------------------------------
    def field(self, role: str) -> Field | None:
        return next((f for f in self.fields if f.role == role), None)

    def to_row_fields(self, obj: dict[str, str]) -> tuple[str, str | None, str | None]:
        """(query, positive, negative) of an answer; the positive is None when passages are."""
        positive, negative = self.field("positive"), self.field("negative")
        return (
            obj[self.field("query").key],
            obj[positive.key] if positive else None,
            (obj.get(negative.key) or None) if negative else None,
        )

    def negative_dropped(self, obj: dict[str, str]) -> str | None:
        """Why the answer's negative was dropped (`synth.checks.validate.Fields.dropped`), or None."""
        negative = self.field("negative")
        return getattr(obj, "dropped", {}).get(negative.key) if negative else None

    def lengths(self, knobs: dict, passage_words: int = 0) -> dict[str, tuple[int, int | None]]:
        """{key: (minimum, maximum)} words asked of every long field."""
        return {f.key: f.length.resolve(knobs, passage_words) for f in self.fields if f.length}

    def hops(self, knobs: dict) -> int:
        """Corpus passages one call reads."""
        return int(knobs.get("hops", self.passages))

    def asked_fields(self, optional: bool = True) -> tuple[Field, ...]:
        """The fields a prompt asks for: all, or (`optional` False) the required ones only."""
        return tuple(f for f in self.fields if optional or not f.optional)

    def expected_words(self, knobs: dict, optional: bool = True, queries: int = 1) -> float:
        """Words a compliant answer holds; `queries`: how many queries the prompt asked for."""
        return sum(
            (f.length.expected(knobs) if f.length else f.typical_words)
            * (queries if f.role == "query" else 1)
            for f in self.asked_fields(optional)
        )

    def field_languages(self, knobs: dict, detect_only: bool = False) -> dict[str, str]:
        """{key: language asked} of the fields asked in a language (all, or those the detector reads)."""
        return {f.key: knobs[f.language] for f in self.fields if f.language and (f.detect or not detect_only)}

    def dedup_keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if f.dedup)

    def language_pair(self, knobs: dict) -> str | None:
        return f"{knobs['language']}-{knobs['target_language']}" if "target_language" in knobs else None
