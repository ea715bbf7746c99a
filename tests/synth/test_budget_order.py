"""Issue 15: a budget stop keeps what it paid for, a finished run's rerun makes no call, the summary's
numbers add up, valid answers that wait show apart from rows, and a fatal error stands alone."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from .conftest import API_KEY, REPO, generate_cmd, journal_keys, read_stats, run_cli, run_generate
from .test_progress import bar_states


@pytest.mark.parametrize(
    "faults",
    [
        dict(rate_short=0.6),  # a weak model: most answers need re-asks
        dict(rate_short=0.5, brainstorm_latency=0.5, rate_brainstorm_junk=0.5),  # slow, failing step 1
        dict(rate_short=0.7, brainstorm_latency=0.2, rate_brainstorm_junk=0.8, latency=0.05),  # both, worse
    ],
)
def test_a_budget_stop_keeps_the_valid_answers_it_paid_for(fake, tmp_path, faults):
    """Before: the default window sent later calls' first attempts while earlier calls' re-asks found
    the budget spent, and most valid answers ended `held: after_unfinished_call`."""
    server = fake(**{"latency": 0.01, **faults})
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=1000, languages="en", max_calls=120, concurrency=64) == 3
    stats = read_stats(out)
    e = stats["accounting"]["examples"]
    valid = e["kept"] + e["held"] + e["duplicates"] + e["decontaminated"]
    assert valid > 20 and e["waiting"]["valid"] == valid
    stranded = e["held_why"].get("after_unfinished_call", 0)
    assert stranded <= 0.05 * valid and e["waiting"]["answers"] == stranded, e
    assert len(server.requests) == stats["calls"]["journaled"] <= 120  # never past the budget


@pytest.mark.parametrize("rate_short", [0.3, 0.6])
def test_a_finished_runs_rerun_makes_no_call_at_any_reject_rate(fake, tmp_path, capsys, rate_short):
    """Before: the rerun issued calls from its own yield estimate before the journal's answers were
    folded, and sent one past what the first run had needed. The rerun's summary adds up too."""
    server = fake(rate_short=rate_short)
    for seed in (1, 2, 3):
        out = tmp_path / f"run{seed}"
        args = dict(num_examples=80, concurrency=8, seed=seed)
        assert run_generate(out, server, **args) == 0
        paid = len(server.requests)
        capsys.readouterr()
        assert run_generate(out, server, **args) == 0
        assert len(server.requests) == paid, (seed, [r["key"] for r in server.requests[paid:]])
        calls = read_stats(out)["calls"]
        assert calls["made_this_run"] == 0
        m = re.search(
            r"calls: 0 made now \+ ([\d,]+) read from the journal \+ ([\d,]+) journaled but not "
            r"needed now = ([\d,]+) in all",
            capsys.readouterr().err,
        )
        assert m, "the summary's calls line"
        read, unread, total = (int(g.replace(",", "")) for g in m.groups())
        assert read + unread == total == len(journal_keys(out)) and read > 0


def test_valid_answers_that_wait_show_in_the_bar_and_the_summary(fake, tmp_path):
    """A slow server and Ctrl-C: while it runs, the bar counts valid answers held behind an earlier
    call apart from rows; the interrupted run's summary says how many were left waiting, behind what."""
    # Some calls hang, then lose their connection, and are answered only on a resend: later calls finish
    # first, whatever the box's load (with a fixed latency alone, answers could come back in order).
    server = fake(latency=0.3, rate_short=0.5, rate_hang=0.2, hang_s=1.5)
    out = tmp_path / "run"
    cmd = generate_cmd(
        out,
        server.url,
        "--num-examples",
        "200",
        "--concurrency",
        "16",
        "--languages",
        "en",
        "--task-types",
        "sts",
        "--progress",
    )
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
    assert proc.returncode == 130, err
    held = [int(m) for m in re.findall(r"held (\d+) dup", err)]
    assert held and max(held) > 0, err[-1500:]
    assert bar_states(err)
    waiting = read_stats(out)["accounting"]["examples"]["waiting"]
    assert waiting["answers"] > 0 and waiting["behind"]
    first = ", ".join(f"g:{i}" for i in waiting["behind"])
    assert f"valid answers left waiting: {waiting['answers']:,} of {waiting['valid']:,} paid for" in err
    assert first in err


def test_a_fatal_error_stands_alone_on_the_last_line_after_the_bar(tmp_path):
    """Before: the error was written onto the bar's line and the bar drawn again after it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    result = run_cli(
        generate_cmd(
            tmp_path / "run",
            f"http://127.0.0.1:{port}/v1",
            "--num-examples",
            "5",
            "--progress",
            "--max-retries",
            "0",
        )
    )
    assert result.returncode == 1, result.stderr
    lines = [line for line in re.split(r"[\r\n]", result.stderr) if line.strip()]
    assert lines[-1].startswith("synth.generate: error: ") and "rows" not in lines[-1], result.stderr
    assert all("error:" not in line for line in lines[:-1]), result.stderr
