"""A run of `synth.generate` on this machine: the whole run or one shard (--shard K/N) -> rows,
stats.json and the card; `run_here` picks the mode one machine runs (a dry run, a pools step, a run).
"""

from __future__ import annotations

import asyncio
import sys
import time

from synth.backends.base import Backend, BackendError
from synth.card.render import render_card
from synth.dataset.dataset import write_json, write_jsonl, write_row_batches, write_text
from synth.dataset.row_parts import RowParts
from synth.dataset.shard_files import open_pools, pools_needed, shard_section, write_shard_manifest
from synth.modes.dry_run import run_dry
from synth.modes.pools_step import run_pools_step
from synth.modes.setup import (
    GenerateError,
    Setup,
    build_runner,
    check_flags,
    finish,
    make_setup,
    open_journal,
    parts_settings,
)
from synth.plan.plan import template_hashes
from synth.run.config import GenerateConfig
from synth.run.journal import Journal, JournalMismatch
from synth.run.runner import Runner
from synth.run.secrets import redact, redact_url
from synth.run.shards import PROGRESS_FILE, UNSHARDED, PoolsError, parse_shard
from synth.run.stats import RunTally, build_stats, earlier_runs
from synth.run.summary import format_summary

PROG = "synth.generate"


def run_here(cfg: GenerateConfig, checked: tuple | None = None) -> int:
    """One machine's part: a dry run, a pools step, or a run (whole, or the shard cfg names).
    `checked`: check_flags(cfg) when the caller has it already."""
    languages, task_mix, price = checked or check_flags(cfg)
    setup = make_setup(cfg, languages, task_mix, price)
    if cfg.dry_run:
        return run_dry(cfg, setup, price)
    if cfg.mode == "pools-only":
        return run_pools_step(cfg, setup)
    return run(cfg, setup)


def run(cfg: GenerateConfig, setup: Setup) -> int:
    sharded = cfg.mode == "shard"
    shard = parse_shard(cfg.shard) if sharded else UNSHARDED
    fingerprint = {**setup.fingerprint, "shard": str(shard)} if sharded else setup.fingerprint
    started = time.monotonic()
    journal = open_journal(cfg, fingerprint)
    pools_from = None
    try:  # the journal's lock and the pools are let go however this ends (a Ray worker lives on)
        if sharded and pools_needed(setup.plan):
            try:
                pools_from = open_pools(cfg, setup.fingerprint, shard)
            except PoolsError as err:
                raise GenerateError(str(err), 2) from err
        status, runner = _generate(cfg, setup, journal, shard, fingerprint, pools_from)
        if runner is None:
            return 130
        parts = runner.folder.parts
        runner.settle()  # every journal record in the ledger, also after Ctrl-C
        tally = runner.tally()
        runner.progress.close(tally.ledger, tally.rows.rows, tally.cost)
        stats = build_stats(
            tally,
            language_check=cfg.language_check,
            status=status,
            generator=generator_section(cfg, setup),
            templates=template_hashes(),
            elapsed_s=time.monotonic() - started,
            earlier=earlier_runs(cfg.out),
            corpus=setup.corpus,
        )
        if sharded:
            stats["shard"] = shard_section(cfg, shard, runner)
        write_outputs(cfg, tally, stats, parts)
        if sharded:
            runner.write_status("done")
            write_shard_manifest(cfg, shard, setup.fingerprint, runner, status, pools_from)
    finally:
        journal.release()
        if pools_from is not None:
            pools_from.close()
    print(format_summary(stats, cfg.out), file=sys.stderr)
    if status == "stopped:pools":
        print(
            f"{PROG}: shard {shard} reached call {pools_from.covers:,}, past what --pools {cfg.pools} brainstormed for; "
            f"extend them (rerun the pools step with --pools-cover {2 * pools_from.covers}), then rerun this shard",
            file=sys.stderr,
        )
    return finish(cfg, status)


def _generate(cfg, setup, journal, shard, fingerprint, pools_from) -> tuple[str, Runner | None]:
    """Build the runner and run it: (status, runner), runner None when Ctrl-C came before the run."""
    status, runner = "complete", None
    parts = RowParts(cfg.out / ".synth" / "rows", parts_settings(cfg, fingerprint))
    try:
        sharded = cfg.mode == "shard"
        status_file = cfg.out / ".synth" / PROGRESS_FILE if sharded else None
        runner = build_runner(
            cfg,
            setup,
            journal,
            cfg.shard_rows if sharded else cfg.num_examples,
            parts=parts,
            shard=shard,
            pools_from=pools_from,
            status_file=status_file,
        )
        asyncio.run(_run(runner, runner.backend, journal))
        if not runner.complete:
            status = f"stopped:{runner.stopped_by or 'max_calls'}"
    except KeyboardInterrupt:
        status = "interrupted"
    except (BackendError, JournalMismatch, PoolsError) as err:
        parts.close()
        if runner is not None:
            runner.progress.close()  # the bar's line ends first: the error stands alone on the last line
        raise GenerateError(redact(str(err))) from err
    except OSError:  # a full disk: synth.generate's edge says so in one line, below the bar's last
        if runner is not None:
            runner.progress.close()
        raise
    if runner is not None:
        runner.folder.fold()  # Ctrl-C cancels the loop before its last fold: finished answers still become rows
        runner.folder.flush()  # the rows folded since the last part
        runner.folder.release_index()
    parts.close()
    return status, runner


def generator_section(cfg: GenerateConfig, setup: Setup) -> dict:
    return {
        "backend": cfg.backend,
        "model": cfg.model,
        "base_url": redact_url(cfg.base_url) if cfg.base_url else None,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": cfg.seed,
        "examples_per_task": cfg.examples_per_task,
        "max_reasks": cfg.max_reasks,
        "languages": setup.languages,
        "task_mix": setup.task_mix,
    }


async def _run(runner: Runner, backend: Backend, journal: Journal) -> None:
    try:
        await runner.run()
    finally:
        await backend.close()
        await journal.close(keep_open=True)


def write_outputs(cfg: GenerateConfig, tally: RunTally, stats: dict, parts: RowParts) -> None:
    write_row_batches(cfg.out, parts.kept_batches())
    write_json(cfg.out / "stats.json", stats)
    write_jsonl(cfg.out / ".synth" / "rejects.jsonl", tally.rejects())
    write_text(cfg.out / "README.md", render_card(cfg.out, stats, cfg.license))
