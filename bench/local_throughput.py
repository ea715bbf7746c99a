"""Kept rows per minute from the embedded LLM, and the local backend against the raw engine.

Two parts, each measured in one run (old and new side by side, so the ratios hold on a shared box):

1. `rows`: `synth.generate --backend local` (the embedded SmolLM2-135M, 4 slots) over a real corpus (the
   quick start's 1,000 SciFact abstracts), grounded queries, as separate processes:
   - `old`: the tree at --old-rev (default: the commit before the prompt-cache and negative changes),
     exported with `git archive`, so its code and templates run unchanged;
   - `order`: this tree, still asking for the optional hard negative (the prompt order alone);
   - `no-neg`: this tree with `--no-llm-negatives` (mining gives the negatives);
   - `3/call`: and `--queries-per-call 3`; `4/call`: 4, as `synth.adapt` asks;
   each to --rows kept rows. Prints kept rows a minute, calls per kept row, prompt and completion
   tokens per call, the share of prompt tokens the engine's slot cache served, and the ratio to `old`.
2. `engine`: the same prompts (this tree's, as `no-neg` sends them) sent straight to xllamacpp from
   threads, one per slot (no runner, no asyncio), and through `LocalBackend.complete` under the
   runner's asyncio loop, at 1, 2, 4 and 8 slots; prints completion tokens/s and calls/min of each
   and the ratio ours/raw (target >= 0.9). A fresh engine per measurement: no cache carried over.

    python bench/local_throughput.py                    # both parts
    python bench/local_throughput.py --part engine --calls 24
    python bench/local_throughput.py --part rows --variants old,4/call --new-slots 8   # old vs new defaults
    python bench/local_throughput.py --part rows --llm .cache/bench-llm/qwen-1.5b.gguf   # see adapt_lift.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama.cpp's OpenMP runtime loads
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth.backends.base import ChatRequest  # noqa: E402
from synth.backends.build import backend_price  # noqa: E402
from synth.backends.local_backend import LocalBackend  # noqa: E402
from synth.corpus.examples import write_example  # noqa: E402
from synth.modes.setup import make_setup  # noqa: E402
from synth.plan.languages import parse_languages  # noqa: E402
from synth.plan.tasks import parse_task_mix  # noqa: E402
from synth.run.config import GenerateConfig  # noqa: E402

# The last commit before the grounded prompt put its shared part first and adapt stopped asking for
# the optional negative (the "old" of the targets).
OLD_REV = "cf15310"
VARIANTS = {
    "old": [],
    "order": [],  # the shared part first, the negative still asked
    "no-neg": ["--no-llm-negatives"],
    "3/call": ["--no-llm-negatives", "--queries-per-call", "3"],  # what synth.adapt asks
    "4/call": ["--no-llm-negatives", "--queries-per-call", "4"],
}


def export_tree(rev: str, into: Path) -> Path:
    """The files of commit `rev` of this repository, written under `into`."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def generate(
    tree: Path, corpus: Path, out: Path, rows: int, slots: int, extra: list[str], llm: str | None
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "synth.generate",
        "--backend",
        "local",
        *(["--model", llm] if llm else []),
        "--corpus",
        str(corpus),
        "--task-types",
        "grounded_query",
        "--languages",
        "en",
        "--num-examples",
        str(rows),
        "--concurrency",
        str(slots),
        "--seed",
        "7",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENAI_API_KEY": ""}
    started = time.monotonic()
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    stats = json.loads((out / "stats.json").read_text())
    calls = stats["calls"]["made_this_run"]
    cache = stats["calls"].get("prompt_cache_this_run") or {}
    return {
        "seconds": seconds,
        "rows": stats["rows"],
        "calls": calls,
        "prompt": stats["tokens"]["prompt"] / max(1, calls),
        "completion": stats["tokens"]["completion"] / max(1, calls),
        "cached": cache.get("cached_tokens", 0) / max(1, cache.get("prompt_tokens", 0)) if cache else None,
    }


def rows_part(args, corpus: Path, work: Path) -> None:
    if args.variants[0] != "old" or not set(args.variants) <= set(VARIANTS):
        raise SystemExit(f"local_throughput: --variants: old first, then any of {', '.join(VARIANTS)}")
    old_tree = export_tree(args.old_rev, work / "old-tree")
    results = {}
    for name in args.variants:
        tree = old_tree if name == "old" else REPO
        out = work / f"run-{name.replace('/', '-')}"
        slots = args.slots if name == "old" else args.new_slots or args.slots
        results[name] = generate(tree, corpus, out, args.rows, slots, VARIANTS[name], args.llm)
        r = results[name]
        print(f"  {name:<8} {r['rows']} rows in {r['seconds']:.0f} s", flush=True)
    base = results["old"]
    llm = Path(args.llm).name if args.llm else "the embedded SmolLM2-135M"
    slots = f"{args.slots} slots" + (f" (new: {args.new_slots})" if args.new_slots else "")
    print(f"\nkept rows a minute, {llm}, {slots}, {corpus.name} (old = {args.old_rev})")
    print(
        f"  {'variant':<8} {'rows/min':>9} {'ratio':>6} {'calls/row':>10} {'prompt/call':>12} "
        f"{'out/call':>9} {'cached':>7}"
    )
    for name, r in results.items():
        per_min = 60 * r["rows"] / r["seconds"]
        ratio = per_min / (60 * base["rows"] / base["seconds"])
        cached = "-" if r["cached"] is None else f"{r['cached']:.0%}"
        print(
            f"  {name:<8} {per_min:>9.2f} {ratio:>6.2f} {r['calls'] / r['rows']:>10.2f} "
            f"{r['prompt']:>12.0f} {r['completion']:>9.0f} {cached:>7}"
        )


def prompts(corpus: Path, n: int, work: Path) -> list[tuple[str, int, dict]]:
    """(prompt, max_tokens, schema) of the first `n` calls of the `no-neg` run: this tree's prompts."""
    cfg = GenerateConfig(
        out=work / "plan",
        corpus=corpus,
        task_types="grounded_query",
        languages="en",
        seed=7,
        backend="local",
        llm_negatives=False,
        progress=False,
    )
    task_mix = parse_task_mix(cfg.task_types, None, corpus=True)
    plan = make_setup(cfg, parse_languages("en"), task_mix, backend_price(cfg)).plan
    return [
        (plan.prompt(plan[i], None), plan.max_tokens(plan[i], 4096), plan.schema(plan[i])) for i in range(n)
    ]


def raw_engine(asks, slots: int) -> tuple[float, int]:
    """(seconds, completion tokens) of `asks` sent straight to xllamacpp from `slots` threads."""
    backend = LocalBackend(None, slots=slots)  # only its engine is used: loaded the same way
    bodies = [backend._body(ChatRequest(f"g:{i}:0", p, m, s, seed=i)) for i, (p, m, s) in enumerate(asks)]
    tokens, lock, queue = [0], threading.Lock(), list(reversed(bodies))

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            answer = backend.server.handle_chat_completions(body)
            with lock:
                tokens[0] += answer["usage"]["completion_tokens"]

    threads = [threading.Thread(target=worker) for _ in range(slots)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, tokens[0]


def our_backend(asks, slots: int) -> tuple[float, int]:
    """(seconds, completion tokens) of `asks` through LocalBackend.complete, `slots` at a time."""
    backend = LocalBackend(None, slots=slots)

    async def run() -> int:
        gate = asyncio.Semaphore(slots)

        async def one(i, prompt, max_tokens, schema):
            async with gate:
                done = await backend.complete(ChatRequest(f"g:{i}:0", prompt, max_tokens, schema, seed=i))
                return done.completion_tokens

        return sum(await asyncio.gather(*(one(i, *a) for i, a in enumerate(asks))))

    started = time.monotonic()
    tokens = asyncio.run(run())
    return time.monotonic() - started, tokens


def engine_part(args, corpus: Path, work: Path) -> None:
    asks = prompts(corpus, args.calls, work)
    print(f"\nlocal backend against the raw engine: {len(asks)} grounded prompts (this tree's), SmolLM2-135M")
    print(
        f"  {'slots':>5} {'raw tok/s':>10} {'ours tok/s':>11} {'raw calls/min':>14} {'ours calls/min':>15} {'ratio':>6}"
    )
    for slots in args.slot_counts:
        raw_s, raw_t = raw_engine(asks, slots)
        ours_s, ours_t = our_backend(asks, slots)
        print(
            f"  {slots:>5} {raw_t / raw_s:>10.1f} {ours_t / ours_s:>11.1f} {60 * len(asks) / raw_s:>14.1f} "
            f"{60 * len(asks) / ours_s:>15.1f} {(ours_t / ours_s) / (raw_t / raw_s):>6.2f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("rows", "engine", "both"), default="both")
    p.add_argument("--rows", type=int, default=40, help="kept rows per variant (part rows)")
    p.add_argument("--slots", type=int, default=4, help="engine slots of part rows")
    p.add_argument("--new-slots", type=int, default=None, help="slots of the new variants (default --slots)")
    p.add_argument(
        "--variants",
        type=lambda v: v.split(","),
        default=list(VARIANTS),
        help=f"part rows' variants, of {','.join(VARIANTS)} (old first: the ratios are to it)",
    )
    p.add_argument("--calls", type=int, default=24, help="prompts per slot count (part engine)")
    p.add_argument("--slot-counts", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    p.add_argument("--old-rev", default=OLD_REV, help="the commit whose generator is `old`")
    p.add_argument("--llm", default=None, help="a GGUF file for part rows (default: the embedded SmolLM2)")
    p.add_argument(
        "--keep", type=Path, default=None, help="an empty dir to keep the runs in (their journals)"
    )
    args = p.parse_args()
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        raise SystemExit(f"local_throughput: --keep {args.keep}: not empty")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        corpus = write_example("scifact-mini", work / "scifact-mini")
        if args.part in ("rows", "both"):
            rows_part(args, corpus, work)
        if args.part in ("engine", "both"):
            engine_part(args, corpus, work)


if __name__ == "__main__":
    main()
