"""The judge's prompts and what its answers are worth: parse, check, and the rule that drops a row.

Score answers are {"relevance": r, "answerability": a, "clarity": c}, integers 1..5; relabel answers
are {"best": i}, 1 <= i <= the number of candidates shown. Anything else is rejected with a reason
(`no_json`, `invalid_json`, `bad_scores`, `bad_best`, `truncated`) and re-asked.

The drop rule: a row is dropped when min(relevance, answerability, clarity) < threshold, which is the
same as asking each score to reach the threshold. A mean was not taken: it would keep a passage that
cannot answer its query (answerability 1) as long as the query is clear and on topic. The reason
named is the first failing score in the order relevance, answerability, clarity:

    scores {"relevance": 4, "answerability": 2, "clarity": 1}, threshold 3 -> "judge_low_answerability"
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synth.checks.parsing import ParseError, extract_json
from synth.plan.render import render, template_hash

SCORE_TEMPLATE = "judge_score.j2"
RELABEL_TEMPLATE = "judge_relabel.j2"
CRITERIA = ("relevance", "answerability", "clarity")

Score = Field(ge=1, le=5)


class Scores(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: 4, never "4", 4.0 or true
    relevance: int = Score
    answerability: int = Score
    clarity: int = Score


class Best(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    best: int = Field(ge=1)


class Invalid(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def score_prompt(query: str, passages: list[str], reask: bool = False) -> str:
    """The user's and the generator's texts go in as values: Jinja never renders them again."""
    return render(SCORE_TEMPLATE, query=query, passages=passages, reask=reask)


def relabel_prompt(query: str, passages: list[str], reask: bool = False) -> str:
    return render(RELABEL_TEMPLATE, query=query, passages=passages, reask=reask)


def templates() -> dict[str, str]:
    return {name: template_hash(name) for name in (SCORE_TEMPLATE, RELABEL_TEMPLATE)}


def score_schema() -> dict:
    """For guided decoding: three integers 1..5, no other key."""
    prop = {"type": "integer", "minimum": 1, "maximum": 5}
    return {
        "type": "object",
        "properties": {c: prop for c in CRITERIA},
        "required": list(CRITERIA),
        "additionalProperties": False,
    }


def best_schema(n: int) -> dict:
    return {
        "type": "object",
        "properties": {"best": {"type": "integer", "minimum": 1, "maximum": n}},
        "required": ["best"],
        "additionalProperties": False,
    }


def _load(text: str) -> object:
    try:
        return extract_json(text)
    except ParseError as err:
        raise Invalid(err.reason, err.detail) from None


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "answer"
    return f"{where}: {e['msg']}"


def parse_scores(text: str) -> Scores:
    """`{"relevance": 4, "answerability": 3, "clarity": 5}` -> Scores; Invalid otherwise.

    >>> parse_scores('```json\\n{"relevance": 4, "answerability": 3, "clarity": 5}\\n```').clarity
    5
    """
    value = _load(text)
    try:
        return Scores.model_validate(value)
    except ValidationError as err:
        raise Invalid("bad_scores", _first_error(err)) from None


def parse_best(text: str, n: int) -> int:
    """`{"best": 2}` -> 2, for an answer among `n` candidates; Invalid otherwise."""
    value = _load(text)
    try:
        best = Best.model_validate(value).best
    except ValidationError as err:
        raise Invalid("bad_best", _first_error(err)) from None
    if best > n:
        raise Invalid("bad_best", f"best: {best} is not one of the {n} passages shown")
    return best


def classify(record: dict, kind: Literal["score", "relabel"], n: int = 0) -> Scores | int:
    """A journal record -> its valid answer; Invalid (a re-ask is due) for anything else. A record of a
    request that failed for good is for the caller (it is an error, not an answer)."""
    assert "error" not in record, "failed requests are errors, not answers"
    if record.get("finish") == "length":
        raise Invalid("truncated", "cut at max_tokens")
    if kind == "score":
        return parse_scores(record["text"])
    return parse_best(record["text"], n)


def low_score_reason(scores: Scores, threshold: int) -> str | None:
    """Why a row with these scores is dropped (see the module docstring), or None when it is kept."""
    for criterion in CRITERIA:
        if getattr(scores, criterion) < threshold:
            return f"judge_low_{criterion}"
    return None
