"""`synth.generate --ray`: shards as Ray tasks on a local cluster (127.0.0.1), one of them killed."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter

import pytest
import ray

from synth.dataset.dataset import read_rows
from synth.dataset.row_parts import call_index

from .conftest import API_KEY, journal_keys, read_stats, run_cli, run_generate

ARGS = dict(num_examples=80, seed=5, task_types="retrieval,classification,sts,short_short", concurrency=2)


@pytest.fixture
def local_ray(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)  # before init: the workers inherit the raylet's environment
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def kill_shard_when(out, shard: int, rows: int, killed: dict) -> threading.Thread:
    """SIGKILL the process running shard `shard` (its Ray worker) once it has folded `rows` rows;
    note the journal's keys at that moment."""
    status = out / ".synth" / "shards" / f"{shard:05d}" / ".synth"

    def watch():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                seen = json.loads((status / "progress.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                seen = {}
            if seen.get("rows", 0) >= rows and seen.get("state") == "running":
                os.kill(seen["pid"], signal.SIGKILL)
                time.sleep(0.2)  # the dead process writes nothing more; Ray starts the retry later
                killed.update(pid=seen["pid"], journal=set(journal_keys(status.parent)), at=time.monotonic())
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(600)
def test_ray_run_with_a_killed_task_equals_an_unsharded_run(local_ray, fake, tmp_path):
    reference = tmp_path / "reference"
    assert run_generate(reference, fake(), **ARGS) == 0

    # Slow enough that the shard writes its status file (once a second) while it is still running
    # past 8 rows: at 0.05 s a call it once went from under 8 rows to done between two writes.
    server = fake(latency=0.2)
    out, killed = tmp_path / "out", {}
    watcher = kill_shard_when(out, 0, 8, killed)
    assert run_generate(out, server, ray="auto", shards=2, **ARGS) == 0
    watcher.join(1)
    assert killed, "the shard finished before it could be killed"

    rows = read_rows(out)
    assert rows == read_rows(reference)  # the same rows, in the same order, as one unsharded run
    assert len({r["id"] for r in rows}) == len(rows) == 80
    asked = Counter(r["key"] for r in server.answered)
    again = {k for k, n in asked.items() if n > 1}
    assert not again & killed["journal"]  # nothing the killed shard had journaled was paid for again
    assert all(
        call_index(k) % 2 == 0 for k in again if k.startswith("g:")
    )  # only the killed shard's calls in flight
    shard0 = out / ".synth" / "shards" / "00000"
    assert (
        json.loads((shard0 / ".synth" / "progress.json").read_text())["pid"] != killed["pid"]
    )  # Ray ran it again
    keys = journal_keys(shard0)
    assert len(keys) == len(set(keys)) and killed["journal"] <= set(keys)
    stats = read_stats(out)
    assert stats["status"] == "complete" and stats["accounting"]["balanced"]
    assert stats["accounting"]["calls"] == sum(
        len(journal_keys(d)) for d in (out / ".synth" / "shards").iterdir()
    ) + len(journal_keys(out / ".synth" / "pools"))


def test_ray_missing_is_one_line_naming_the_install(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from synth.generate import cli\n"
        f"sys.exit(cli(['--out', {str(tmp_path / 'out')!r}, '--ray', 'auto', '--shards', '2']))"
    )
    result = run_cli([sys.executable, "-c", code])
    assert result.returncode == 2
    assert result.stderr.strip() == "synth.generate: error: --ray needs Ray: pip install 'synthembed[ray]'"
