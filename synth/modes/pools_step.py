"""`synth.generate --pools-only`: brainstorm, once, the task pools that sharded runs read.

Every shard of a run needs nearly every task slot (they are spread over all shards), so the
brainstorms are made here, once, under the journal keys an unsharded run uses, as far as the calls
below `covers` need (`synth.run.shards`). The dir holds the journal and `pools.json`:

    {"format": 1, "pool_id": "9f2c...", "settings": {"plan": {...}, "max_reasks": 2, ...},
     "covers": 750064, "status": "complete", "accounting": {...}, "tokens": {...}, "brainstorm": {...}}

Rerunning it with a larger --num-examples extends the pools, paying only for new brainstorms; the
pool id stays, so shards that read the shorter pools still merge with the others.
"""

from __future__ import annotations

import asyncio
import sys
import time

from synth.backends.base import BackendError
from synth.dataset.dataset import write_jsonl
from synth.modes.setup import GenerateError, build_runner, open_journal
from synth.run.journal import JournalMismatch
from synth.run.runner import Runner
from synth.run.secrets import redact
from synth.run.shards import (
    FORMAT,
    POOLS_FILE,
    pool_id,
    pools_cover,
    pools_settings,
    read_json,
    write_json_atomic,
)

PROG = "synth.generate"


def run_pools_step(cfg, setup) -> int:
    started = time.monotonic()
    previous = read_json(cfg.out / POOLS_FILE) or {}
    cover = max(
        cfg.pools_cover or pools_cover(cfg.num_examples), previous.get("covers", 0)
    )  # pools only grow
    journal = open_journal(cfg, {**setup.fingerprint, "pools": FORMAT})
    try:  # the lock goes however this ends
        status, runner = "complete", None
        try:
            runner = build_runner(cfg, setup, journal, cfg.num_examples, parts=None)
            asyncio.run(_brainstorm(runner, cover))
            if runner.stopped_by:
                status = f"stopped:{runner.stopped_by}"
        except KeyboardInterrupt:
            status = "interrupted"
        except (BackendError, JournalMismatch) as err:
            if runner is not None:
                runner.progress.close()  # the error stands alone on the last line, after the bar's
            raise GenerateError(redact(str(err))) from err
        if runner is None:
            return 130
        runner.settle()
        runner.progress.close()
        manifest = pools_manifest(cfg, setup, runner, cover, status)
        write_jsonl(cfg.out / ".synth" / "rejects.jsonl", runner.rejects())
        write_json_atomic(cfg.out / POOLS_FILE, manifest)
    finally:
        journal.release()
    tasks = sum(p["tasks"] for p in manifest["brainstorm"].values())
    print(
        f"{status}: pools for calls below {cover:,} in {cfg.out}: {tasks:,} task definitions from "
        f"{manifest['journaled']:,} brainstorm calls, ${manifest['cost_usd']:.4f} ({time.monotonic() - started:.1f}s)",
        file=sys.stderr,
    )
    return {"complete": 0, "interrupted": 130}.get(status, 3)


async def _brainstorm(runner: Runner, cover: int) -> None:
    try:
        await runner.brainstorm_until(cover)
    finally:
        await runner.backend.close()
        await runner.journal.close(keep_open=True)


def pools_manifest(cfg, setup, runner: Runner, cover: int, status: str) -> dict:
    ledger = runner.ledger
    return {
        "format": FORMAT,
        "pool_id": pool_id(cfg.out),
        "settings": pools_settings(setup.fingerprint, cfg.max_reasks, cfg.brainstorm_share),
        "covers": cover,
        "status": status,
        "journaled": len(runner.journal),
        "accounting": ledger.balance(len(runner.journal)),
        "tokens": {"prompt": ledger.prompt_tokens, "completion": ledger.completion_tokens},
        "cost_usd": round(runner.cost, 6),
        "brainstorm": {t: p.stats() for t, p in runner.pools.items() if p.calls_folded},
        "task_definitions": {
            "valid": ledger.task_definitions["valid"],
            "rejected": {k: v for k, v in ledger.task_definitions.most_common() if k != "valid"},
        },
    }
