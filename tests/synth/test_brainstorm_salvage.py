"""A brainstorm a weak model runs on to max_tokens keeps the tasks it finished before the cut.

Against SmolLM2-135M on a llama.cpp server, 3 of 10 brainstorms repeated their list until the
2,048-token cap (7 minutes each on a CPU) and were rejected whole as invalid JSON, though each held
dozens of finished items; the task type's examples then waited on yet another brainstorm."""

from __future__ import annotations

import pyarrow.parquet as pq

from synth.checks.validate import complete_list_items
from synth.plan.plan import brainstorm_max_tokens
from synth.run.answers import classify_brainstorm

from .conftest import read_stats, run_generate


def test_the_finished_items_of_a_cut_list_are_read_and_the_unfinished_one_is_not():
    cut = '{"tasks": [\n "Given a claim, find evidence.",\n "Given a \\"title\\", find its abstract.",\n "Given a ti'
    assert complete_list_items(cut) == [
        "Given a claim, find evidence.",
        'Given a "title", find its abstract.',
    ]
    assert complete_list_items('{"tasks": "none"}') == []


def test_a_cut_brainstorm_is_useful_with_its_reason_and_an_answer_that_stopped_is_unchanged():
    cut = {"text": '["Given a claim, find evidence that supports it.", "Given a tit', "finish": "length"}
    entry, answer = classify_brainstorm(cut)
    assert (entry.category, entry.reason) == ("useful", "salvaged_truncated")
    assert answer.tasks == ["Given a claim, find evidence that supports it."]
    stopped = dict(cut, finish="stop")  # the same text, not cut by the server: malformed, rejected
    assert classify_brainstorm(stopped)[0].reason == "invalid_json"
    junk = {"text": '["regression", "user_id", "Dash', "finish": "length"}  # items, none a task
    assert classify_brainstorm(junk)[0].reason == "no_valid_task"


def test_a_run_whose_brainstorms_all_ramble_uses_their_tasks_and_counts_them(fake, tmp_path):
    """Before: every brainstorm was rejected (invalid_json) and every row fell back to built-in tasks."""
    server = fake(rate_brainstorm_ramble=1.0)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=30, languages="en", task_types="retrieval") == 0
    stats = read_stats(out)
    b = stats["accounting"]["brainstorm"]
    assert (
        b["calls"] >= 1
        and b["useful"] == b["calls"]
        and b["useful_why"] == {"salvaged_truncated": b["calls"]}
    )
    served = stats["brainstorm"]["retrieval"]["examples_on"]
    assert served["fallback"] == 0 and served["brainstormed"] >= 30, served
    brainstorms = [r for r in server.requests if r["prompt"].startswith("Brainstorm")]
    assert brainstorms and all(r["max_tokens"] == brainstorm_max_tokens(10**6) == 1024 for r in brainstorms)
    rows = pq.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    assert len(rows) == 30 and all(row["instruction"].startswith("Given a ") for row in rows)
