"""Every request that reached the server is a call, and every call is a row, a duplicate, a held
answer, a reject with a reason, or an error: stats.json balances in every way a run can end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from synth.dataset.dataset import read_rows

from .conftest import API_KEY, REPO, generate_cmd, journal_keys, read_stats, run_cli, run_generate

FAULTS = dict(
    rate_malformed=0.1, rate_missing_key=0.1, rate_500=0.05, rate_exact_dup=0.05, rate_near_dup=0.05
)


def rejects_file(out) -> list[dict]:
    return [json.loads(line) for line in (out / ".synth" / "rejects.jsonl").read_text().splitlines()]


def assert_balanced(out, server=None) -> dict:
    """The invariant of the issue, checked against the files and, where given, the server's log."""
    stats = read_stats(out)
    a = stats["accounting"]
    keys = journal_keys(out)
    assert a["balanced"] and a["calls"] == len(keys) == stats["calls"]["journaled"]
    b, e = a["brainstorm"], a["examples"]
    assert b["calls"] == b["useful"] + b["rejected"] + b["errors"]
    assert (
        e["calls"]
        == e["kept"] + e["held"] + e["duplicates"] + e["decontaminated"] + e["rejected"] + e["errors"]
    )
    assert b["calls"] + e["calls"] == len(keys)
    assert b["calls"] == sum(k.startswith("b:") for k in keys)
    assert e["kept"] == stats["rows"] == len(read_rows(out))
    assert e["duplicates"] == sum(stats["duplicates"].values())
    rejected = rejects_file(out)
    assert len(rejected) == b["rejected"] + e["rejected"]
    for step in ("brainstorm", "examples"):
        assert sum(stats["rejects"][step].values()) == a[step]["rejected"]
        assert sum(1 for r in rejected if r["step"] == step) == a[step]["rejected"]
    if server is not None:
        # A call is one key; its retries are more requests of the same key. Every key that the server
        # answered (or failed for good) is in the journal.
        served = {r["key"] for r in server.requests}
        assert served == set(keys), sorted(served ^ set(keys))[:5]
    return stats


def test_a_finished_run_balances_with_faults_of_every_kind(fake, tmp_path):
    server = fake(**FAULTS, rate_wrong_language=0.05)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=40, concurrency=16) == 0
    stats = assert_balanced(out, server)
    a = stats["accounting"]
    assert a["examples"]["rejected"] > 0 and a["brainstorm"]["useful"] > 0
    assert stats["calls"]["http_requests_this_run"] == len(server.requests)


def test_every_request_of_a_max_calls_stop_is_counted(fake, tmp_path):
    """--max-calls 3 with calls in flight: the server gets 3 requests and the run counts 3."""
    server = fake(latency=0.2)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10, max_calls=3, concurrency=8) == 3
    stats = assert_balanced(out, server)
    assert len(server.requests) == 3 == stats["calls"]["journaled"] == stats["calls"]["made_this_run"]
    assert stats["calls"]["http_requests_this_run"] == 3


def test_answers_past_the_target_are_held_not_lost(fake, tmp_path):
    """Calls still in flight when the target is met are waited for and counted as held (or rejected),
    and a rerun with a larger target uses them without paying again."""
    server = fake(latency=0.05, **FAULTS)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=20, concurrency=32, task_types="sts") == 0
    stats = assert_balanced(out, server)
    held = stats["accounting"]["examples"]["held"]
    assert held > 0 and stats["accounting"]["examples"]["held_why"] == {"over_target": held}
    paid = len(server.requests)
    assert run_generate(out, server, num_examples=20 + held, concurrency=32, task_types="sts") in (0, 3)
    after = assert_balanced(out, server)
    assert after["rows"] >= 20 + min(held, 1)
    reasked = {r["key"] for r in server.requests[paid:]}
    assert not reasked & set(journal_keys(out)[: stats["calls"]["journaled"]])


def test_kill_9_then_rerun_balances_and_counts_every_answer(fake, tmp_path):
    server = fake(latency=0.05, **FAULTS)
    out = tmp_path / "run"
    args = ["--num-examples", "60", "--languages", "en,de", "--concurrency", "16", "--seed", "5"]
    proc = subprocess.Popen(
        generate_cmd(out, server.url, *args),
        env=dict(os.environ, OPENAI_API_KEY=API_KEY),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = out / ".synth" / "journal.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 40):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = set(journal_keys(out))
    on_wire_at_kill = {r["key"] for r in server.requests} - before
    result = run_cli(generate_cmd(out, server.url, *args))
    assert result.returncode == 0, result.stderr
    stats = assert_balanced(out)
    # Every key the server saw is journaled, except calls that were on the wire at the kill (never
    # answered to us) and that the rerun did not need again.
    assert {r["key"] for r in server.requests} - set(journal_keys(out)) <= on_wire_at_kill
    assert stats["calls"]["answered_from_journal_this_run"] == len(before)
    assert stats["calls"]["made_this_run"] == stats["calls"]["journaled"] - len(before)


def test_ctrl_c_balances_and_counts_calls_cut_off_in_flight(fake, tmp_path):
    server = fake(latency=0.3)
    out = tmp_path / "run"
    cmd = generate_cmd(out, server.url, "--num-examples", "200", "--concurrency", "8", "--languages", "en,de")
    proc = subprocess.Popen(
        cmd,
        env=dict(os.environ, OPENAI_API_KEY=API_KEY),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = out / ".synth" / "journal.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 20):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    stats = assert_balanced(out)
    cut = stats["calls"]["abandoned_in_flight_this_run"]
    assert cut > 0 and "cut off in flight" in err
    # no retries here: every request sent was answered into the journal or cut off on the wire
    on_wire = stats["calls"]["cut_off_on_the_wire_this_run"]
    assert 0 < on_wire <= cut
    assert stats["calls"]["http_requests_this_run"] == stats["calls"]["journaled"] + on_wire


def test_weak_brainstorms_are_bounded_and_tasks_reused(fake, tmp_path):
    """A model whose brainstorms are junk cannot eat the budget: the type gives up, rows still come
    from built-in tasks, and the share of brainstorm calls stays under --brainstorm-share."""
    server = fake(rate_brainstorm_junk=1.0)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=60, languages="en", task_types="retrieval") == 0
    stats = assert_balanced(out, server)
    b = stats["accounting"]["brainstorm"]
    assert b["useful"] == 0 and b["rejected"] == b["calls"] > 0
    assert b["calls"] <= 0.1 * stats["accounting"]["examples"]["calls"] + 2 * 3  # two calls of 3 attempts
    pool = stats["brainstorm"]["retrieval"]
    assert pool["gave_up"] and pool["tasks"] == 0 and pool["examples_on"]["fallback"] >= 60
    assert b["calls"] == 6  # two dry calls of three attempts, then no more
    rows = read_rows(out)
    assert len(rows) == 60 and all(r["instruction"].startswith("Given ") for r in rows)
    per_row = stats["accounting"]["calls_per_row"]
    assert per_row["all"] == round((b["calls"] + stats["accounting"]["examples"]["calls"]) / 60, 3)


def test_one_language_leaves_bitext_out_of_the_default_mix(fake, tmp_path):
    server = fake()
    out = tmp_path / "run"
    result = run_cli(generate_cmd(out, server.url, "--num-examples", "12", "--languages", "en"))
    assert result.returncode == 0, result.stderr
    assert "bitext (which pairs two languages) is left out" in result.stderr
    stats = read_stats(out)
    assert "bitext" not in stats["generator"]["task_mix"] and "bitext" not in stats["per_task_type"]


def test_the_summary_says_when_asked_lengths_could_not_fit_the_context(fake, tmp_path):
    server = fake(context_length=700, models_style="vllm")
    out = tmp_path / "run"
    result = run_cli(
        generate_cmd(out, server.url, "--num-examples", "6", "--languages", "en", "--task-types", "retrieval")
    )
    stats = read_stats(out)
    context = stats["calls"]["context"]
    assert context["length"] == 700 and context["capped"] > 0
    assert f"to fit the 700-token context (asked up to {context['capped_largest_ask']:,}" in result.stderr
    assert "asked lengths could not fit" in result.stderr
    assert max(r["max_tokens"] for r in server.requests) < 700
