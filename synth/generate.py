"""`python -m synth.generate`: synthetic embedding data, end to end.

parse flags -> build plan, journal and backend -> run -> write rows, stats.json and the card.
Past one machine (`synth.run.shards`): --pools-only brainstorms the task pools once, --shard K/N runs
one shard into its own dir (joined by `python -m synth.merge`), --ray runs all of it on a Ray cluster.
Exit status: 0 done, 1 error, 2 bad flags, 3 stopped by --max-calls/--max-cost, or a shard past its
pools (rerun to go on), 130 interrupted (rerun to go on).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass

from common.cli import fail, parse
from synth.backends.base import Backend, BackendError
from synth.backends.build import make_backend
from synth.card.render import render_card
from synth.run.config import GenerateConfig
from synth.corpus import CorpusError
from synth.modes.corpus_run import corpus_section, drop_multi_hop, ground
from synth.dataset.dataset import write_json, write_jsonl, write_row_batches, write_text
from synth.checks.decontam import DecontamError, Decontaminator
from synth.modes.dry_run import format_plan, plan_run, save_plan, write_samples
from synth.run.journal import Journal, JournalMismatch
from synth.plan.languages import parse_languages
from synth.mining.embedder import EmbedderError
from synth.plan.plan import Plan, template_hashes
from synth.plan.pricing import Price, price_for
from synth.run.progress import Progress
from synth.card.publish import PublishError, check_repo_id, publish, resolve_token
from synth.dataset.row_parts import RowParts
from synth.run.runner import Limits, Runner
from synth.run.secrets import redact, redact_url, redacted_logging
from synth.dataset.shard_files import open_pools, pools_needed, settings_of, shard_section, write_shard_manifest
from synth.run.shards import PROGRESS_FILE, UNSHARDED, PoolsError, parse_shard
from synth.run.stats import RunTally, build_stats, earlier_runs
from synth.run.summary import format_summary
from synth.plan.tasks import fit_to_languages, parse_task_mix

PROG = "synth.generate"
log = logging.getLogger(PROG)


@dataclass
class Setup:
    """What every way of running shares: the plan, its fingerprint (the journal's), the price."""

    plan: Plan
    fingerprint: dict
    price: Price
    languages: dict[str, float]
    task_mix: dict[str, float]
    corpus: dict | None = None  # a grounded run's corpus section (synth.modes.corpus_run.corpus_section)


def main(cfg: GenerateConfig) -> int:
    languages, task_mix, price = _check_flags(cfg)
    if cfg.ray and not cfg.dry_run:
        from synth.modes.ray_run import run_on_ray  # Ray is an optional extra, imported only here

        return run_on_ray(cfg, task_mix)
    setup = _setup(cfg, languages, task_mix, price)
    if cfg.dry_run:
        return dry_run(cfg, setup, price)
    if cfg.pools_only:
        from synth.modes.pools_step import run_pools_step

        return run_pools_step(cfg, setup)
    return run(cfg, setup)


def _check_flags(cfg: GenerateConfig) -> tuple[dict[str, float], dict[str, float], Price]:
    try:
        languages = parse_languages(cfg.languages)
        task_mix = parse_task_mix(cfg.task_types, cfg.task_mix, corpus=cfg.corpus is not None)
        named = {t.split(":")[0].strip() for t in f"{cfg.task_types or ''},{cfg.task_mix or ''}".split(",")}
        task_mix, notice = fit_to_languages(task_mix, len(languages), "bitext" in named)
        task_mix, notice2 = drop_multi_hop(task_mix, named, cfg.neighbour_model)
        for line in filter(None, (notice, notice2)):
            print(line, file=sys.stderr)
        price = price_for(cfg.model, cfg.prices, cfg.price_in, cfg.price_out)
        if cfg.backend == "openai-batch":
            from synth.backends.openai_batch import batch_price  # imports the openai SDK

            price = batch_price(price)  # the Batch API bills half the live rates
    except ValueError as err:
        fail(PROG, str(err), 2)
    if cfg.push_to_hub and not cfg.dry_run:
        try:  # a bad repo id or a missing token must fail before any money is spent, not after
            check_repo_id(cfg.push_to_hub, "--push-to-hub")
            resolve_token(None)
        except PublishError as err:
            fail(PROG, str(err), 2)
    return languages, task_mix, price


def _setup(cfg: GenerateConfig, languages: dict, task_mix: dict, price: Price) -> Setup:
    corpus = grounding = None
    if cfg.corpus is not None:
        try:
            corpus, grounding = ground(
                cfg.corpus, cfg.chunk_tokens, cfg.seed, task_mix, cfg.neighbour_model, cfg.out
            )
        except (CorpusError, ValueError, EmbedderError) as err:
            fail(PROG, str(err), 2 if isinstance(err, CorpusError) else 1)
    plan = Plan(
        cfg.seed, task_mix, languages, cfg.examples_per_task, grounding, corpus.index if corpus else None
    )
    fingerprint = {"seed": cfg.seed, "model": cfg.model, "languages": languages, "task_mix": task_mix,
                   "examples_per_task": cfg.examples_per_task, "templates": template_hashes()}  # fmt: skip
    if corpus is not None:  # another corpus or chunking would ask other questions under the same keys
        fingerprint["corpus"] = corpus.fingerprint
    section = corpus_section(cfg.corpus, cfg.chunk_tokens, corpus) if corpus is not None else None
    return Setup(plan, fingerprint, price, languages, task_mix, section)


def open_journal(cfg: GenerateConfig, fingerprint: dict) -> Journal:
    try:
        return Journal(cfg.out / ".synth" / "journal.jsonl", fingerprint)
    except (JournalMismatch, OSError) as err:
        fail(PROG, str(err))


def build_runner(cfg: GenerateConfig, setup: Setup, journal: Journal, target: int, **sharding) -> Runner:
    """The runner of a run, a shard or a pools step: everything but where its rows and pools go."""
    try:
        decontaminator = Decontaminator(cfg.decontaminate) if cfg.decontaminate else None
    except DecontamError as err:
        fail(PROG, str(err), 2)
    backend = make_backend(cfg, cfg.out / ".synth")
    limits = Limits(target, cfg.max_reasks, cfg.max_calls, cfg.max_cost, cfg.concurrency, cfg.max_tokens_cap,
                    cfg.brainstorm_share)  # fmt: skip
    progress = Progress(target, disable=not cfg.progress)
    return Runner(backend, journal, setup.plan, limits, setup.price, cfg.model, progress, cfg.language_check,
                  decontaminator, **sharding)  # fmt: skip


def parts_settings(cfg: GenerateConfig, fingerprint: dict) -> dict:
    """What the rows of a call depend on besides the journal: parts folded under other values are redone."""
    return {"fingerprint": fingerprint, **settings_of(cfg)}


def run(cfg: GenerateConfig, setup: Setup) -> int:
    shard = parse_shard(cfg.shard) if cfg.shard else UNSHARDED
    fingerprint = {**setup.fingerprint, "shard": str(shard)} if cfg.shard else setup.fingerprint
    started = time.monotonic()
    journal = open_journal(cfg, fingerprint)
    pools_from = None
    try:  # the journal's lock and the pools are let go however this ends (a Ray worker lives on)
        if cfg.shard and pools_needed(setup.plan):
            try:
                pools_from = open_pools(cfg, setup.fingerprint, shard)
            except PoolsError as err:
                fail(PROG, str(err), 2)
        status, runner = _generate(cfg, setup, journal, shard, fingerprint, pools_from)
        if runner is None:
            return 130
        parts = runner.folder.parts
        runner.settle()  # every journal record in the ledger, also after Ctrl-C
        tally = runner.tally()
        runner.progress.close(tally.ledger, tally.rows.rows, tally.cost)
        stats = build_stats(tally, language_check=cfg.language_check, status=status, generator=generator_section(cfg, setup),
                            templates=template_hashes(), elapsed_s=time.monotonic() - started,
                            earlier=earlier_runs(cfg.out), corpus=setup.corpus)  # fmt: skip
        if cfg.shard:
            stats["shard"] = shard_section(cfg, shard, runner)
        write_outputs(cfg, tally, stats, parts)
        if cfg.shard:
            runner.write_status("done")
            write_shard_manifest(cfg, shard, setup.fingerprint, runner, status, pools_from)
    finally:
        journal.release()
        if pools_from is not None:
            pools_from.close()
    print(format_summary(stats, cfg.out), file=sys.stderr)
    if status == "stopped:pools":
        print(f"{PROG}: shard {shard} reached call {pools_from.covers:,}, past what --pools {cfg.pools} brainstormed for; "
              f"extend them (rerun the pools step with --pools-cover {2 * pools_from.covers}), then rerun this shard",
              file=sys.stderr)  # fmt: skip
    return finish(cfg, status)


def _generate(cfg, setup, journal, shard, fingerprint, pools_from) -> tuple[str, Runner | None]:
    """Build the runner and run it: (status, runner), runner None when Ctrl-C came before the run."""
    status, runner = "complete", None
    parts = RowParts(cfg.out / ".synth" / "rows", parts_settings(cfg, fingerprint))
    try:
        status_file = cfg.out / ".synth" / PROGRESS_FILE if cfg.shard else None
        runner = build_runner(cfg, setup, journal, cfg.shard_rows if cfg.shard else cfg.num_examples,
                              parts=parts, shard=shard, pools_from=pools_from, status_file=status_file)  # fmt: skip
        asyncio.run(_run(runner, runner.backend, journal))
        if not runner.complete:
            status = f"stopped:{runner.stopped_by or 'max_calls'}"
    except KeyboardInterrupt:
        status = "interrupted"
    except (BackendError, JournalMismatch, PoolsError) as err:
        parts.close()
        if runner is not None:
            runner.progress.close()  # the bar's line ends first: the error stands alone on the last line
        fail(PROG, redact(str(err)))
    if runner is not None:
        runner.folder.flush()  # the rows folded since the last part
        runner.folder.release_index()
    parts.close()
    return status, runner


def generator_section(cfg: GenerateConfig, setup: Setup) -> dict:
    return {"backend": cfg.backend, "model": cfg.model, "base_url": redact_url(cfg.base_url) if cfg.base_url else None,
            "temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed,
            "examples_per_task": cfg.examples_per_task, "max_reasks": cfg.max_reasks,
            "languages": setup.languages, "task_mix": setup.task_mix}  # fmt: skip


def finish(cfg: GenerateConfig, status: str) -> int:
    """Publish a complete run if asked; the exit status."""
    if cfg.push_to_hub and status == "complete":
        try:
            url = publish(cfg.out, cfg.push_to_hub, cfg.private, None)
        except PublishError as err:
            fail(PROG, f"--push-to-hub: {err}")
        print(f"published: {url}", file=sys.stderr)
    elif cfg.push_to_hub:
        print(f"not published ({status}): rerun to finish; it is pushed once complete", file=sys.stderr)
    return {"complete": 0, "interrupted": 130}.get(status, 3)


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


def dry_run(cfg: GenerateConfig, setup: Setup, price) -> int:
    report = plan_run(setup.plan, cfg.num_examples, cfg.examples_per_task, price, setup.corpus)
    folder = cfg.out / ".synth" / "plan"
    samples = write_samples(setup.plan, folder)
    plan_path = save_plan(report, folder)
    print(f"dry run: {cfg.num_examples:,} examples with {cfg.model} (no calls made)\n")
    print(format_plan(report))
    print(f"\nplan: {plan_path}\nsample prompts: {', '.join(str(p) for p in samples[:3])} ...")
    return 0


def cli(argv: list[str] | None = None) -> int:
    redacted_logging()
    cfg = parse(GenerateConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
