"""What one answer is worth: everything the generator computes from an answer text.

`analyse` parses and validates a step-2 answer, checks its language and fingerprints the texts that
dedup compares, in one pass: about 0.8 ms of CPU for a 300-word answer. `classify_brainstorm` and
`classify_example` turn a journal record into its ledger entry (`synth.run.ledger`). Nothing here holds
state of the run.
Handing it to worker processes was tried and measured slower (bench/generate_throughput.py at
concurrency 256: 0.67 of the plain loop against 0.77 inline): pickling and the executor's
thread cost more than the work they moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from synth.checks.dedup import Fingerprint, Signer
from synth.checks.langcheck import check_answer
from synth.checks.text import repeats_itself
from synth.checks.validate import (
    BrainstormAnswer,
    Reject,
    complete_list_items,
    validate_brainstorm,
    validate_example,
)
from synth.plan.tasks import TASK_TYPES
from synth.run.ledger import HELD, Entry


@dataclass
class Analysis:
    fields: dict[str, str] | None = None
    reason: str = ""  # set when rejected
    detail: str = ""
    fingerprints: list[Fingerprint] = field(default_factory=list)


@lru_cache(maxsize=1)
def _signer() -> Signer:
    return Signer()


def dedup_texts(task_type: str, fields: dict[str, str]) -> list[str]:
    """The texts a row is deduplicated on, as `synth.plan.tasks` declares them: query and positive, but
    never a classification label (many rows share a label by design) nor a corpus passage."""
    return [fields[k] for k in TASK_TYPES[task_type].dedup_keys()]


def analyse(
    task_type: str, text: str, knobs: dict, language_check: bool, passages: tuple[str, ...] = ()
) -> Analysis:
    try:
        fields = validate_example(task_type, text, knobs, passages)
        if language_check:
            problem = check_answer(task_type, fields, knobs)
            if problem is not None:
                raise Reject(problem.reason, problem.detail)
    except Reject as r:
        return Analysis(reason=r.reason, detail=r.detail)
    signer = _signer()
    return Analysis(fields, fingerprints=[signer.fingerprint(t) for t in dedup_texts(task_type, fields)])


def classify_brainstorm(record: dict) -> tuple[Entry, BrainstormAnswer | None]:
    """A step-1 journal record -> (its ledger entry, the valid task definitions or None)."""
    if "error" in record:
        return Entry("brainstorm", "errors", record["error"]), None
    try:
        answer = validate_brainstorm(record["text"])
    except Reject as r:
        # A weak model often repeats its list until max_tokens; the items it finished before the
        # cut are as good as those of an answer that stopped, and were paid for.
        items = complete_list_items(record["text"]) if record.get("finish") == "length" else []
        if r.reason != "invalid_json" or not items:
            return Entry("brainstorm", "rejected", r.reason, r.detail), None
        try:
            answer = validate_brainstorm(json.dumps(items))
        except Reject as again:
            return Entry("brainstorm", "rejected", again.reason, again.detail), None
        return Entry(
            "brainstorm", "useful", "salvaged_truncated", f"{len(items)} items before the cut"
        ), answer
    return Entry("brainstorm", "useful"), answer


def classify_example(
    task_type: str,
    knobs: dict,
    record: dict,
    language_check: bool,
    max_tokens: int | None = None,
    passages: tuple[str, ...] = (),
) -> tuple[Entry, Analysis | None]:
    """A step-2 journal record -> (its ledger entry, the analysis of a valid answer or None). A valid
    answer is `held` until the fold places it (kept, duplicate or decontaminated)."""
    if "error" in record:
        return Entry("examples", "errors", record["error"]), None
    if record["finish"] == "length":
        detail = f"cut at max_tokens={max_tokens}" if max_tokens else "cut at max_tokens"
        if repeats_itself(record["text"]):  # more room would buy more of the loop: re-asked at the same size
            return Entry("examples", "rejected", "repetition", f"{detail}, repeating itself"), None
        return Entry("examples", "rejected", "truncated", detail), None
    result = analyse(task_type, record["text"], knobs, language_check, passages)
    if result.fields is None:
        return Entry("examples", "rejected", result.reason, result.detail), None
    return HELD, result
