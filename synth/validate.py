"""Schema and semantic checks of step-1 and step-2 answers.

Each check that fails raises `Reject` with a short machine-readable reason; the runner counts the
reasons in stats.json and keeps every rejected answer with its reason.
"""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from synth.knobs import requested_words
from synth.parsing import ParseError, extract_json
from synth.tasks import TASK_TYPES
from synth.text import count_words, normalize

# Checks on word counts are loose on purpose: LLMs count words badly, and a strict check would pay
# for many re-asks of usable examples. These catch answers that ignored the request altogether.
MIN_WORDS_FACTOR = 0.3
MAX_WORDS_FACTOR = 3.0
QUERY_COPY_MIN_WORDS = 6  # shorter queries may appear in a relevant document by chance


class Reject(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@cache
def schema_model(task_type: str) -> type[BaseModel]:
    keys = TASK_TYPES[task_type].keys
    return create_model(  # type: ignore[call-overload]
        f"{task_type}_example",
        __config__=ConfigDict(extra="ignore", strict=True),
        **{k: (str, ...) for k in keys},
    )


def json_schema(task_type: str) -> dict:
    """JSON schema of a step-2 answer, for backends that offer guided decoding."""
    keys = TASK_TYPES[task_type].keys
    return {
        "type": "object",
        "properties": {k: {"type": "string"} for k in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


def parse_answer(text: str):
    try:
        return extract_json(text)
    except ParseError as err:
        raise Reject(err.reason, err.detail) from None


_LIST_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def validate_brainstorm(text: str) -> list[str]:
    """A JSON list of task definitions (a dict holding one such list is accepted too)."""
    value = parse_answer(text)
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if not isinstance(value, list):
        raise Reject("not_a_list", f"expected a JSON list of task definitions, got {type(value).__name__}")
    tasks = [_LIST_PREFIX.sub("", t).strip() for t in value if isinstance(t, str)]
    tasks = [t for t in tasks if t]
    if not tasks:
        raise Reject("empty_list", "no task definitions in the list")
    return tasks


def validate_example(task_type: str, text: str, knobs: dict) -> dict[str, str]:
    """The answer's fields for `task_type`, or `Reject`."""
    value = parse_answer(text)
    if not isinstance(value, dict):
        raise Reject("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    spec = TASK_TYPES[task_type]
    missing = [k for k in spec.keys if k not in value]
    if missing:
        raise Reject("missing_keys", f"missing {', '.join(missing)}")
    try:
        obj = schema_model(task_type).model_validate(value).model_dump()
    except ValidationError as err:
        bad = ", ".join(str(e["loc"][0]) for e in err.errors())
        raise Reject("wrong_type", f"not a string: {bad}") from None
    obj = {k: v.strip() for k, v in obj.items()}
    empty = [k for k, v in obj.items() if not v]
    if empty:
        raise Reject("empty_field", ", ".join(empty))
    _check_semantics(task_type, obj, knobs)
    return obj


def _check_semantics(task_type: str, obj: dict[str, str], knobs: dict) -> None:
    spec = TASK_TYPES[task_type]
    query, positive, negative = spec.to_row_fields(obj)
    if negative is not None and normalize(positive) == normalize(negative):
        reason = "label_equals_misleading" if task_type == "classification" else "positive_equals_negative"
        raise Reject(reason, "the positive and the negative are the same text")
    if task_type in ("sts", "bitext") and normalize(query) == normalize(positive):
        raise Reject("query_equals_positive", "S1 and S2 are the same text")
    language = knobs["language"]
    if task_type in ("retrieval", "short_short", "long_long"):
        q = normalize(query)
        if count_words(query, language) >= QUERY_COPY_MIN_WORDS and any(
            q in normalize(d) for d in (positive, negative) if d
        ):
            raise Reject("query_copied", "the query appears verbatim in a document")
    # The text whose length the prompt asked for: the documents, or the input of classification.
    measured = query if task_type == "classification" else positive
    if task_type == "bitext":
        language = knobs["target_language"]
    words = count_words(measured, language)
    low, high = requested_words(task_type, knobs)
    if words < low * MIN_WORDS_FACTOR:
        raise Reject("too_short", f"{words:.0f} words, asked for at least {low}")
    if high is not None and words > high * MAX_WORDS_FACTOR + 5:
        raise Reject("too_long", f"{words:.0f} words, asked for at most {high}")
