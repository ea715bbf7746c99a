"""An answer cut at max_tokens: more room buys the rest of a real answer, not the rest of a loop."""

from __future__ import annotations

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
