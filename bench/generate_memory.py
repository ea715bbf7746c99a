"""Peak memory of `synth.generate` as the row count grows: rows stream to disk, so what grows is
the dedup index (and small per-call records), not the rows.

For each size it runs the real command line against the loopback fake LLM (in its own process, so
its memory is not counted), takes the generator's peak RSS from the kernel (wait4's ru_maxrss, the
card and the final parquet write included), and measures, apart, what `synth.checks.dedup`'s index of
that many rows costs: the RSS a fresh process gains while a Deduper takes the run's kept rows one
at a time, as the generator's fold does (the allocator's overhead for the index's growing arrays
included, which tracemalloc, also printed, does not see). The figure to read is the growth:
RSS(large) - RSS(small) against dedup(large) - dedup(small).

    python bench/generate_memory.py                 # 50k and 200k rows
    python bench/generate_memory.py --rows 20000 80000
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq

from synth.checks.dedup import Deduper
from synth.dataset.dataset import DATA_FILE
from synth.merge import dedup_texts_of

KEY = "sk-bench"
MIX = "retrieval,classification,sts,bitext,long_long,short_short"


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "synth.testing.fake_openai", "--api-key", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", "fake server did not start"
    return proc, line[1]


def run(rows: int, concurrency: int) -> tuple[float, float, Path, tempfile.TemporaryDirectory]:
    """(peak RSS in MiB, wall seconds, out dir, its tempdir) of one run of `rows` rows."""
    server, url = start_server()
    tmp = tempfile.TemporaryDirectory()
    out = Path(tmp.name) / "run"
    cmd = [
        sys.executable,
        "-m",
        "synth.generate",
        "--out",
        str(out),
        "--base-url",
        url,
        "--model",
        "fake",
        "--num-examples",
        str(rows),
        "--concurrency",
        str(concurrency),
        "--languages",
        "en,de,ko",
        "--task-types",
        MIX,
        "--no-progress",
        "--seed",
        "1",
    ]
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=dict(os.environ, OPENAI_API_KEY=KEY),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        assert os.waitstatus_to_exitcode(status) == 0, f"synth.generate exited {status}"
    finally:
        server.terminate()
        server.wait()
    return usage.ru_maxrss / 1024, wall, out, tmp


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def dedup_index_mib(out: Path) -> tuple[float, float]:
    """(RSS gained, bytes tracemalloc sees held), in MiB, by a Deduper fed the run's kept rows one at
    a time; run in a child process so that nothing else of this one's heap is counted."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import generate_memory as g; g.dedup_child({str(out)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, traced = result.stdout.split()
    return float(rss), float(traced)


def dedup_child(out: str) -> None:
    table = pq.read_table(
        Path(out) / DATA_FILE, columns=["task_type", "query", "positive", "negative", "instruction"]
    )
    rows = [dedup_texts_of(r) for r in table.to_pylist()]
    del table
    gc.collect()
    gc.freeze()
    before = rss_mib()
    dedup = Deduper()
    for row in rows:
        dedup.check(row)
    gained = rss_mib() - before
    tracemalloc.start()  # the index's own bytes, as a second opinion: a fresh index over the same rows
    again = Deduper()
    base = tracemalloc.get_traced_memory()[0]
    for start in range(0, len(rows), 8192):
        again.check_many(rows[start : start + 8192])
    print(gained, (tracemalloc.get_traced_memory()[0] - base) / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    print(
        f"{'rows':>8} {'wall s':>7} {'peak RSS MiB':>13} {'dedup RSS MiB':>14} {'(traced)':>9} {'RSS - dedup':>12}"
    )
    results = []
    for rows in args.rows:
        rss, wall, out, tmp = run(rows, args.concurrency)
        dedup, traced = dedup_index_mib(out)
        tmp.cleanup()
        results.append((rows, rss, dedup))
        print(
            f"{rows:>8} {wall:>7.1f} {rss:>13.1f} {dedup:>14.1f} {traced:>9.1f} {rss - dedup:>12.1f}",
            flush=True,
        )
    if len(results) > 1:
        (r0, m0, d0), (r1, m1, d1) = results[0], results[-1]
        per_row = 2**20 / (r1 - r0)
        print(
            f"\ngrowth {r0:,} -> {r1:,} rows: RSS +{m1 - m0:.1f} MiB ({(m1 - m0) * per_row:.0f} B/row), "
            f"dedup index +{d1 - d0:.1f} MiB ({(d1 - d0) * per_row:.0f} B/row), "
            f"the rest +{(m1 - m0) - (d1 - d0):.1f} MiB ({((m1 - m0) - (d1 - d0)) * per_row:.0f} B/row)"
        )


if __name__ == "__main__":
    main()
