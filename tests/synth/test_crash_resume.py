"""kill -9 in the middle of a run, then the same command again: nothing lost, duplicated or repaid."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from synth.dataset.dataset import read_rows

from .conftest import API_KEY, REPO, generate_cmd, journal_keys, read_stats, run_cli

ARGS = ["--num-examples", "80", "--languages", "en,de,ko", "--concurrency", "8", "--seed", "3"]


def test_kill_9_mid_run_then_resume_matches_an_uninterrupted_run(fake, tmp_path):
    reference_server = fake(latency=0.01, rate_malformed=0.1, rate_429=0.05)
    reference = tmp_path / "reference"
    assert run_cli(generate_cmd(reference, reference_server.url, *ARGS)).returncode == 0

    server = fake(latency=0.05, rate_malformed=0.1, rate_429=0.05)
    out = tmp_path / "crashed"
    env = dict(os.environ, OPENAI_API_KEY=API_KEY)
    proc = subprocess.Popen(
        generate_cmd(out, server.url, *ARGS),
        env=env,
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
    answered_before = set(journal_keys(out))
    assert 30 <= len(answered_before) and not (out / "stats.json").exists()

    first_requests = len(server.requests)
    result = run_cli(generate_cmd(out, server.url, *ARGS))
    assert result.returncode == 0, result.stderr
    asked_again = {r["key"] for r in server.requests[first_requests:]}
    assert not asked_again & answered_before  # no call answered before the kill was paid for again

    rows = read_rows(out)
    assert len(rows) == 80 and len({r["id"] for r in rows}) == 80
    assert rows == read_rows(reference)  # the same rows, in the same order, as without the crash
    keys = journal_keys(out)
    assert len(keys) == len(set(keys))  # the journal holds each call once
    stats = read_stats(out)
    assert (
        stats["rows"] == 80 and stats["calls"]["answered_from_journal_this_run"] >= len(answered_before) - 10
    )


def test_interrupt_during_write_keeps_the_last_good_dataset(fake, tmp_path):
    """A finished dataset survives a later run that dies: files are replaced by rename, never rewritten."""
    server = fake()
    out = tmp_path / "run"
    assert run_cli(generate_cmd(out, server.url, "--num-examples", "10")).returncode == 0
    before = read_rows(out)
    proc = subprocess.Popen(
        generate_cmd(out, server.url, "--num-examples", "400", "--concurrency", "2"),
        env=dict(os.environ, OPENAI_API_KEY=API_KEY),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_rows(out) == before
    assert read_stats(out)["rows"] == 10


def test_ctrl_c_exits_130_writes_what_it_has_and_a_rerun_finishes(fake, tmp_path):
    server = fake(latency=0.1)
    out = tmp_path / "run"
    cmd = generate_cmd(out, server.url, "--num-examples", "200", "--concurrency", "4", "--languages", "en,de")
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
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 40):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    stats = read_stats(out)
    assert stats["status"] == "interrupted" and stats["rows"] < 200  # rows of the answered prefix
    assert len(read_rows(out)) == stats["rows"]
    assert (
        run_cli(generate_cmd(out, server.url, "--num-examples", "200", "--languages", "en,de")).returncode
        == 0
    )
    assert read_stats(out)["rows"] == 200
