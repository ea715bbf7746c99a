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
    QUERIES_KEY,
    QUERY_MAX_CHARS,
    BrainstormAnswer,
    Fields,
    Reject,
    complete_list_items,
    validate_brainstorm,
    validate_example,
    validate_queries,
)
from synth.plan.tasks import TASK_TYPES
from synth.run.ledger import HELD, Entry


@dataclass
class Analysis:
    """A valid answer's one-query answers (one, or one per query of an answer asked for several),
    each with the fingerprints of its dedup texts; or, rejected, why."""

    answers: list[tuple[Fields, list[Fingerprint]]] = field(default_factory=list)
    reason: str = ""  # set when rejected
    detail: str = ""
    dropped: list[str] = field(default_factory=list)  # why each query left out of a valid answer was

    @property
    def fields(self) -> Fields | None:
        return self.answers[0][0] if self.answers else None


@lru_cache(maxsize=1)
def _signer() -> Signer:
    return Signer()


def dedup_texts(task_type: str, fields: dict[str, str]) -> list[str]:
    """The texts a row is deduplicated on, as `synth.plan.tasks` declares them: query and positive, but
    never a classification label (many rows share a label by design) nor a corpus passage."""
    return [fields[k] for k in TASK_TYPES[task_type].dedup_keys()]


def analyse(
    task_type: str,
    text: str,
    knobs: dict,
    language_check: bool,
    passages: tuple[str, ...] = (),
    queries: int = 1,
    max_query_chars: int = QUERY_MAX_CHARS,
) -> Analysis:
    """`queries` > 1: the answer lists that many queries of one passage, each checked alone; it is
    valid when one is, and the others' reasons are `dropped`."""
    try:
        if queries == 1:
            results: list[Fields | Reject] = [
                validate_example(task_type, text, knobs, passages, max_query_chars)
            ]
        else:
            results = validate_queries(task_type, text, knobs, passages, queries, max_query_chars)
    except Reject as r:
        return Analysis(reason=r.reason, detail=r.detail)
    analysis = Analysis()
    first: Reject | None = None
    for result in results:
        if not isinstance(result, Reject) and language_check:
            problem = check_answer(task_type, result, knobs)
            if problem is not None:
                result = Reject(problem.reason, problem.detail)
        if isinstance(result, Reject):
            first = first or result
            analysis.dropped.append(result.reason)
            continue
        fingerprints = [_signer().fingerprint(t) for t in dedup_texts(task_type, result)]
        analysis.answers.append((result, fingerprints))
    if not analysis.answers:
        return Analysis(reason=first.reason, detail=first.detail)
    return analysis


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
    queries: int = 1,
    max_query_chars: int = QUERY_MAX_CHARS,
) -> tuple[Entry, Analysis | None]:
    """A step-2 journal record -> (its ledger entry, the analysis of a valid answer or None). A valid
    answer is `held` until the fold places it (kept, duplicate or decontaminated)."""
    if "error" in record:
        return Entry("examples", "errors", record["error"]), None
    text, cut = record["text"], None
    if record["finish"] == "length":
        detail = f"cut at max_tokens={max_tokens}" if max_tokens else "cut at max_tokens"
        # An answer asked for several queries keeps those it finished before the cut (a weak model's
        # runaway string, SmolLM2-135M's URL of 80 path segments, is usually the last it wrote): they
        # were paid for and are as good as those of an answer that stopped. The unfinished one is
        # dropped as `truncated`.
        cut = complete_list_items(text) if queries > 1 else []
        if not cut:
            if repeats_itself(text):  # more room would buy more of the loop: re-asked at the same size
                return Entry("examples", "rejected", "repetition", f"{detail}, repeating itself"), None
            return Entry("examples", "rejected", "truncated", detail), None
        text = json.dumps({QUERIES_KEY: cut})
    result = analyse(task_type, text, knobs, language_check, passages, queries, max_query_chars)
    if result.fields is None:
        if cut:
            return Entry("examples", "rejected", "truncated", f"{detail}; {result.reason} before it"), None
        return Entry("examples", "rejected", result.reason, result.detail), None
    if cut and len(cut) < queries:
        result.dropped.append("truncated")
    return HELD, result
