"""`python -m synth.generate`: synthetic embedding data, end to end.

parse flags -> build plan, journal and backend -> run -> write rows, stats.json and the card.
Exit status: 0 done, 1 error, 2 bad flags, 3 stopped by --max-calls/--max-cost (rerun to go on),
130 interrupted (rerun to go on).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from common.cli import fail, parse
from synth.backends.base import Backend, BackendError
from synth.backends.build import make_backend
from synth.card.render import render_card
from synth.config import GenerateConfig
from synth.corpus import CorpusError
from synth.corpus_run import drop_multi_hop, ground
from synth.dataset import write_json, write_jsonl, write_rows, write_text
from synth.decontam import DecontamError, Decontaminator
from synth.dry_run import format_plan, plan_run, save_plan, write_samples
from synth.journal import Journal, JournalMismatch
from synth.languages import parse_languages
from synth.mining.embedder import EmbedderError
from synth.plan import Plan, template_hashes
from synth.pricing import price_for
from synth.progress import Progress
from synth.publish import PublishError, check_repo_id, publish, resolve_token
from synth.runner import Limits, Runner
from synth.secrets import RedactingFilter, redact, redact_url
from synth.stats import RunTally, build_stats
from synth.summary import format_summary
from synth.tasks import fit_to_languages, parse_task_mix

PROG = "synth.generate"
log = logging.getLogger(PROG)


def main(cfg: GenerateConfig) -> int:
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
    if cfg.dry_run:
        return dry_run(cfg, plan, price)
    fingerprint = {"seed": cfg.seed, "model": cfg.model, "languages": languages, "task_mix": task_mix,
                   "examples_per_task": cfg.examples_per_task, "templates": template_hashes()}  # fmt: skip
    if corpus is not None:  # another corpus or chunking would ask other questions under the same keys
        fingerprint["corpus"] = corpus.fingerprint
    started = time.monotonic()
    try:
        journal = Journal(cfg.out / ".synth" / "journal.jsonl", fingerprint)
    except (JournalMismatch, OSError) as err:
        fail(PROG, str(err))
    status, runner = "complete", None
    try:
        decontaminator = Decontaminator(cfg.decontaminate) if cfg.decontaminate else None
    except DecontamError as err:
        fail(PROG, str(err), 2)
    try:
        backend = make_backend(cfg, cfg.out / ".synth")
        limits = Limits(cfg.num_examples, cfg.max_reasks, cfg.max_calls, cfg.max_cost, cfg.concurrency,
                        cfg.max_tokens_cap, cfg.brainstorm_share)  # fmt: skip
        progress = Progress(cfg.num_examples, disable=not cfg.progress)
        runner = Runner(backend, journal, plan, limits, price, cfg.model, progress, cfg.language_check,
                        decontaminator)  # fmt: skip
        asyncio.run(_run(runner, backend, journal))
        if not runner.complete:
            status = f"stopped:{runner.stopped_by or 'max_calls'}"
    except KeyboardInterrupt:
        status = "interrupted"
    except (BackendError, JournalMismatch) as err:
        fail(PROG, redact(str(err)))
    if runner is None:
        return 130
    runner.settle()  # every journal record in the ledger, also after Ctrl-C
    tally = runner.tally()
    progress.close(tally.ledger, len(tally.rows), tally.cost)
    generator = {"backend": cfg.backend, "model": cfg.model, "base_url": redact_url(cfg.base_url) if cfg.base_url else None,
                 "temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed,
                 "examples_per_task": cfg.examples_per_task, "max_reasks": cfg.max_reasks,
                 "languages": languages, "task_mix": task_mix}  # fmt: skip
    stats = build_stats(tally, language_check=cfg.language_check, status=status, generator=generator, templates=template_hashes(),
                        elapsed_s=time.monotonic() - started)  # fmt: skip
    write_outputs(cfg, tally, stats)
    print(format_summary(stats, cfg.out), file=sys.stderr)
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
        await journal.close()


def write_outputs(cfg: GenerateConfig, tally: RunTally, stats: dict) -> None:
    write_rows(cfg.out, tally.rows)
    write_json(cfg.out / "stats.json", stats)
    write_jsonl(cfg.out / ".synth" / "rejects.jsonl", tally.rejects)
    write_text(cfg.out / "README.md", render_card(cfg.out, stats, cfg.license))


def dry_run(cfg: GenerateConfig, plan: Plan, price) -> int:
    report = plan_run(plan, cfg.num_examples, cfg.examples_per_task, price)
    folder = cfg.out / ".synth" / "plan"
    samples = write_samples(plan, folder)
    plan_path = save_plan(report, folder)
    print(f"dry run: {cfg.num_examples:,} examples with {cfg.model} (no calls made)\n")
    print(format_plan(report))
    print(f"\nplan: {plan_path}\nsample prompts: {', '.join(str(p) for p in samples[:3])} ...")
    return 0


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for noisy in ("httpx", "httpx2", "openai"):  # one INFO line per request would drown the progress bar
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cfg = parse(GenerateConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
