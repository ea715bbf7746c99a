"""Sharded runs (--pools-only, --shard K/N) and `synth.merge`: the union of N shards is one run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from synth.checks.dedup import Deduper
from synth.dataset.dataset import DATA_FILE, read_rows
from synth.dataset.row_parts import read_groups
from synth.merge import MergeConfig, dedup_texts_of
from synth.merge import main as merge
from synth.plan.languages import parse_languages
from synth.plan.plan import Plan
from synth.plan.tasks import parse_task_mix

from .conftest import API_KEY, REPO, generate_cmd, journal_keys, read_stats, run_cli, run_generate

COMMON = dict(num_examples=60, seed=5, task_types="retrieval,classification,sts,short_short")


def shard_run(tmp_path, server, n: int, shard_rows: int | None = None, **overrides) -> list:
    """The pools step, then shards 0..n-1, in-process; the shard dirs."""
    args = {**COMMON, **overrides}
    assert run_generate(tmp_path / "pools", server, pools_only=True, **args) == 0
    dirs = [tmp_path / f"shard{k}" for k in range(n)]
    for k, out in enumerate(dirs):
        assert (
            run_generate(
                out, server, shard=f"{k}/{n}", pools=tmp_path / "pools", shard_rows=shard_rows, **args
            )
            == 0
        )
    return dirs


def merge_cli(out, dirs, *args) -> subprocess.CompletedProcess:
    return run_cli([sys.executable, "-m", "synth.merge", str(out), *map(str, dirs), "--no-progress", *args])


def test_a_shard_asks_the_unsharded_plan_at_its_indices():
    make = lambda: Plan(3, parse_task_mix(None, None), parse_languages("en,de"), 3)  # noqa: E731
    whole, shard = make(), make()
    assert [shard[i] for i in range(2, 3000, 5)] == [whole[i] for i in range(3000)][2::5]
    assert shard[17] == whole[17] and shard[2999] == whole[2999]  # reading back below the frontier


def test_merged_shards_equal_an_unsharded_run_and_no_call_is_paid_twice(fake, tmp_path):
    reference = tmp_path / "reference"
    assert run_generate(reference, fake(), **COMMON) == 0

    server = fake()
    dirs = shard_run(tmp_path, server, 3)
    result = merge_cli(tmp_path / "merged", dirs)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "merged")
    assert rows == read_rows(reference)  # every column, in the same order: ids, calls, instructions
    assert len({r["id"] for r in rows}) == 60
    paid = Counter(r["key"] for r in server.answered)
    assert paid and max(paid.values()) == 1  # each brainstorm once (pools step), each example call once
    assert all(k.startswith("b:") for k in journal_keys(tmp_path / "pools"))
    assert not any(k.startswith("b:") for d in dirs for k in journal_keys(d))  # shards never brainstorm
    owned = {k: {int(key.split(":")[1]) % 3 for key in journal_keys(d)} for k, d in enumerate(dirs)}
    assert owned == {0: {0}, 1: {1}, 2: {2}}

    stats = read_stats(tmp_path / "merged")
    accounting = stats["accounting"]
    assert stats["status"] == "complete" and stats["rows"] == 60 and accounting["balanced"]
    assert (
        accounting["calls"]
        == len(server.answered)
        == accounting["brainstorm"]["calls"] + accounting["examples"]["calls"]
    )
    assert (
        accounting["examples"]["kept"] == 60 and accounting["examples"]["held"] > 0
    )  # the shards ran past the cut
    assert stats["per_task_type"] == read_stats(reference)["per_task_type"]
    calls, shard_calls = stats["calls"], read_stats(dirs[0])["calls"]
    assert calls["failed"] == accounting["brainstorm"]["errors"] + accounting["examples"]["errors"]
    assert calls["context"]["length"] == shard_calls["context"]["length"]  # one server's window, not 3x it
    assert calls["guided"]["mode"] == shard_calls["guided"]["mode"]
    card = (tmp_path / "merged" / "README.md").read_text()
    assert card.startswith("---\n") and "60" in card


def test_merge_dedups_across_shards_as_one_run_does(fake, tmp_path):
    """A copy kept by its own shard is dropped by the merge when its original is in another shard:
    the merged rows are those a single fold of all the shards' answers, in call order, keeps."""
    args = dict(
        task_types="sts,long_long", num_examples=50
    )  # few prompt shapes: the fake has answers to copy
    dirs = shard_run(tmp_path, fake(rate_exact_dup=0.2, rate_near_dup=0.2), 2, **args)
    assert merge_cli(tmp_path / "merged", dirs).returncode == 0
    merged = [r["id"] for r in read_rows(tmp_path / "merged")]
    groups = sorted((g for d in dirs for g in read_groups(d / ".synth" / "rows")), key=lambda g: g.index)
    dedup, expected, cut = Deduper(), [], 0
    for g in groups:  # the reference: Deduper.check row by row, no batching, no shard verdicts
        if len(expected) >= 50:
            break
        cut = g.index
        if dedup.check(dedup_texts_of(g.rows[0])) is None:
            expected += [r["id"] for r in g.rows]
    assert merged == expected and len(set(merged)) == 50
    kept_locally_dropped_globally = [
        g for g in groups if g.index < cut and g.verdict is None and g.rows[0]["id"] not in merged
    ]
    assert kept_locally_dropped_globally  # cross-shard duplicates that only the merge can see
    stats = read_stats(tmp_path / "merged")
    assert (
        stats["duplicates"]["exact"] + stats["duplicates"]["near"]
        == sum(1 for g in groups if g.index <= cut) - 50
    )


def test_merge_refuses_another_plan_a_missing_shard_and_a_shard_twice_in_one_line(fake, tmp_path):
    server = fake()
    dirs = shard_run(tmp_path, server, 2)
    other = tmp_path / "other"
    assert run_generate(tmp_path / "pools2", server, pools_only=True, **{**COMMON, "seed": 6}) == 0
    assert run_generate(other, server, shard="1/2", pools=tmp_path / "pools2", **{**COMMON, "seed": 6}) == 0
    for given, words in (
        ([dirs[0], other], "different plans (seed)"),
        ([dirs[0]], "shard 1/2 missing"),
        ([dirs[0], dirs[1], dirs[1]], "given twice"),
        ([dirs[0], tmp_path / "pools"], "not a finished shard dir"),
    ):
        result = merge_cli(tmp_path / "merged", given)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "merged" / DATA_FILE).exists()


def test_merge_is_rerun_safe(fake, tmp_path):
    dirs = shard_run(tmp_path, fake(), 2)
    out = tmp_path / "merged"
    assert merge(MergeConfig(out, dirs, progress=False)) == 0
    first = {
        p: (out / p).read_bytes() for p in (DATA_FILE, "stats.json", "README.md", ".synth/rejects.jsonl")
    }
    assert merge(MergeConfig(out, dirs, progress=False)) == 0
    assert {p: (out / p).read_bytes() for p in first} == first


def test_a_short_merge_says_how_to_go_on_and_resumed_shards_complete_it(fake, tmp_path):
    server = fake()
    dirs = shard_run(tmp_path, server, 2, shard_rows=20)  # 40 rows between them: short of 60
    result = merge_cli(tmp_path / "merged", dirs)
    assert result.returncode == 3 and "--shard-rows" in result.stderr
    assert read_stats(tmp_path / "merged")["status"] == "short"
    before = len(server.answered)
    for k, out in enumerate(dirs):  # the command the message gives: the shards resume
        assert (
            run_generate(out, server, shard=f"{k}/2", pools=tmp_path / "pools", shard_rows=40, **COMMON) == 0
        )
    assert len(server.answered) - before < 60  # only the new calls were paid
    assert merge_cli(tmp_path / "merged", dirs).returncode == 0
    assert read_stats(tmp_path / "merged")["rows"] == 60


def test_merge_of_a_shard_its_budget_stopped_names_that_shard(fake, tmp_path):
    server = fake()
    assert run_generate(tmp_path / "pools", server, pools_only=True, **COMMON) == 0
    dirs = [tmp_path / f"shard{k}" for k in range(2)]
    assert run_generate(dirs[0], server, shard="0/2", pools=tmp_path / "pools", **COMMON) == 0
    assert run_generate(dirs[1], server, shard="1/2", pools=tmp_path / "pools", max_calls=5, **COMMON) == 3
    result = merge_cli(tmp_path / "merged", dirs)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "shard 1/2 ended stopped:max_calls" in result.stderr, result.stderr
    assert str(dirs[1]) in result.stderr
    assert read_stats(tmp_path / "merged")["status"] != "complete"


def test_a_shard_needs_pools_that_match_its_plan(fake, tmp_path):
    server = fake()
    assert run_generate(tmp_path / "pools", server, pools_only=True, **COMMON) == 0
    with pytest.raises(SystemExit) as exit:
        run_generate(tmp_path / "s", server, shard="0/2", **COMMON)  # no --pools
    assert exit.value.code == 2
    with pytest.raises(SystemExit):
        run_generate(tmp_path / "s", server, shard="0/2", pools=tmp_path / "pools", **{**COMMON, "seed": 9})
    assert (
        run_generate(tmp_path / "sts", server, shard="0/2", **{**COMMON, "task_types": "sts"}) == 0
    )  # none brainstorm


def test_a_shard_past_its_pools_stops_and_goes_on_once_they_are_extended(fake, tmp_path):
    server = fake()
    assert run_generate(tmp_path / "pools", server, pools_only=True, **{**COMMON, "num_examples": 4}) == 0
    covers = json.loads((tmp_path / "pools" / "pools.json").read_text())["covers"]
    out = tmp_path / "shard"
    assert run_generate(out, server, shard="0/1", pools=tmp_path / "pools", **COMMON) == 3
    assert read_stats(out)["status"] == "stopped:pools"
    assert max(int(k.split(":")[1]) for k in journal_keys(out)) < covers
    assert run_generate(tmp_path / "pools", server, pools_only=True, **COMMON) == 0  # extends them
    assert run_generate(out, server, shard="0/1", pools=tmp_path / "pools", **COMMON) == 0
    rows = read_rows(out)
    reference = tmp_path / "reference"
    assert run_generate(reference, fake(), **COMMON) == 0
    assert [r["id"] for r in rows][:60] == [r["id"] for r in read_rows(reference)]


def test_kill_9_of_a_shard_then_the_same_command_resumes_it(fake, tmp_path):
    reference = tmp_path / "reference"
    args = {**COMMON, "num_examples": 120}
    assert run_generate(reference, fake(), **args) == 0
    server = fake(latency=0.05)
    assert run_generate(tmp_path / "pools", server, pools_only=True, **args) == 0
    flags = [
        "--num-examples",
        "120",
        "--seed",
        "5",
        "--task-types",
        COMMON["task_types"],
        "--languages",
        "en,de,ko",
        "--concurrency",
        "4",
        "--pools",
        str(tmp_path / "pools"),
    ]
    dirs = [tmp_path / f"shard{k}" for k in range(2)]
    proc = subprocess.Popen(
        generate_cmd(dirs[0], server.url, "--shard", "0/2", *flags),
        cwd=REPO,
        env=dict(os.environ, OPENAI_API_KEY=API_KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = dirs[0] / ".synth" / "journal.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 30):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answered = set(journal_keys(dirs[0]))
    assert len(answered) >= 20 and not (dirs[0] / "stats.json").exists()
    seen = len(server.requests)
    for k, out in enumerate(dirs):
        result = run_cli(generate_cmd(out, server.url, "--shard", f"{k}/2", *flags))
        assert result.returncode == 0, result.stderr
    assert not {r["key"] for r in server.requests[seen:]} & answered  # nothing answered before was paid again
    assert merge_cli(tmp_path / "merged", dirs).returncode == 0
    assert read_rows(tmp_path / "merged") == read_rows(reference)
