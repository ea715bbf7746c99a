"""An answer cut at max_tokens: more room buys the rest of a real answer, not the rest of a loop."""

from __future__ import annotations

import json

from synth.run.answers import classify_example

KNOBS = {"language": "en"}


def record(text: str, finish: str = "length") -> dict:
    return {"text": text, "finish": finish, "usage": [100, 512]}


def test_a_loop_cut_at_max_tokens_is_repetition_and_real_text_is_truncated():
    # SmolLM2-135M's loops from a real grounded run over Python's help topics
    for loop in ('{"query": "' + "2021-01-18 " * 120, '{"query": "' + "a question about tenancy law, " * 40):
        entry, analysis = classify_example("sts", KNOBS, record(loop), False, 512)
        assert analysis is None and entry.reason == "repetition" and "repeating itself" in entry.detail
    from pydoc_data.topics import topics

    prose = '{"S1": "' + topics["assert"][:1500]  # real prose, cut short
    entry, _ = classify_example("sts", KNOBS, record(prose), False, 512)
    assert entry.reason == "truncated"


PASSAGE = ("Vitamin D supplements lower the risk of hip fractures in older adults living at home.",)


def test_queries_finished_before_the_cut_are_kept_and_the_cut_one_dropped():
    # SmolLM2-135M's answers over SciFact: two real queries, then a runaway URL to max_tokens
    cut = (
        '{"queries": ["vitamin D hip fractures", "do supplements help older adults", "https://www.ex/1/2/3/4'
    )
    entry, analysis = classify_example("grounded_query", KNOBS, record(cut), False, 224, PASSAGE, 3)
    assert entry.category == "held" and [f["query"] for f, _ in analysis.answers] == [
        "vitamin D hip fractures",
        "do supplements help older adults",
    ]
    assert analysis.dropped == ["truncated"]
    # the runaway string first: nothing finished, the answer is truncated (and re-asked)
    first = (
        '{"queries": ["1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.2.3.5.8.13.21.34'
    )
    entry, analysis = classify_example("grounded_query", KNOBS, record(first), False, 224, PASSAGE, 3)
    assert analysis is None and entry.reason in ("truncated", "repetition")
    # finished but all off the passage: truncated, with why the finished ones failed
    off = '{"queries": ["POST", "GET", "https://www.ex/1/2/3/4'
    entry, analysis = classify_example("grounded_query", KNOBS, record(off), False, 224, PASSAGE, 3)
    assert analysis is None and entry.reason == "truncated" and "query_off_passage" in entry.detail


def test_a_query_at_the_schemas_max_length_is_too_long():
    long = "vitamin D hip fractures " + "x" * 300
    entry, _ = classify_example(
        "grounded_query", KNOBS, record(json.dumps({"query": long}), "stop"), False, 224, PASSAGE
    )
    assert entry.reason == "too_long" and "characters" in entry.detail
    # the limit grows with the user's own long example queries
    entry, _ = classify_example(
        "grounded_query", KNOBS, record(json.dumps({"query": long}), "stop"), False, 224, PASSAGE, 1, 1000
    )
    assert entry.category == "held"
