"""`python -m synth.judge`: an LLM judge pass over a dataset dir's grounded rows.

parse flags -> read the dataset dir, plan the judge calls (relabel: retrieve each query's candidates)
-> ask the judge through the journal -> write a NEW dataset dir (`--out`) with a `judge` column,
stats.json's `judge` section and a re-rendered card. The input dir is only read.

    python -m synth.judge --data run/data --out run/judged --mode score --threshold 3
    python -m synth.judge --data run/data --out run/judged --mode relabel \
        --corpus run/corpus/passages.jsonl --embed-model BAAI/bge-small-en-v1.5 --top-k 5

Exit status: 0 done, 1 error, 2 bad flags, 3 stopped by --max-calls/--max-cost (rerun to go on),
130 interrupted (rerun to go on). Nothing is written to --out but the journal until a run completes.
"""

from __future__ import annotations

import asyncio
import sys
import time

from common.cli import fail, parse
from synth.backends.base import BackendError
from synth.backends.build import backend_price, make_backend
from synth.dataset.dataset import recover_dir
from synth.judge.config import JudgeConfig
from synth.judge.dirs import JOURNAL, STATE, check_out, output_table, read_input, write_judged_dir
from synth.judge.plan import apply_verdicts, plan_score
from synth.judge.report import card_text, format_summary, judge_stats
from synth.judge.run import JudgeRunner, Limits, judge_balance
from synth.mining.dirs import DatasetError, read_stats, row_counts
from synth.mining.embedder import EmbedderError
from synth.run.journal import Journal, JournalMismatch
from synth.run.secrets import redact, redact_url, redacted_logging

PROG = "synth.judge"
JOURNAL_FORMAT = 1  # of the judge's journal keys and prompts; part of the journal's fingerprint


def plan(cfg: JudgeConfig, rows: list[dict]):
    if cfg.mode == "score":
        items, passthrough = plan_score(rows)
        return items, passthrough, None
    from synth.corpus import CorpusError  # the corpus package is only needed to relabel
    from synth.judge.relabel import relabel_items

    try:
        return relabel_items(cfg, rows, cfg.out / STATE)
    except (CorpusError, EmbedderError, ValueError) as err:
        fail(PROG, redact(str(err)))


def main(cfg: JudgeConfig) -> int:
    started = time.monotonic()
    try:
        price = backend_price(cfg)
    except ValueError as err:
        fail(PROG, str(err), 2)
    try:
        recover_dir(cfg.out)
        check_out(cfg.data, cfg.out)
        table, rows = read_input(cfg.data)
        stats_in = read_stats(cfg.data)
    except DatasetError as err:
        fail(PROG, str(err))
    if not any(r["passage_id"] for r in rows):
        fail(
            PROG,
            f"--data: no row of {cfg.data} has a passage_id, so there is nothing to judge (the judge "
            "reads rows grounded in a corpus: synth.generate --corpus)",
        )
    items, passthrough, retrieval = plan(cfg, rows)
    try:
        journal = Journal(
            cfg.out / STATE / JOURNAL, {"stage": "judge", "format": JOURNAL_FORMAT, "model": cfg.model}
        )
    except (JournalMismatch, OSError) as err:
        fail(PROG, str(err))
    status, runner = "complete", None
    try:
        backend = make_backend(cfg, cfg.out / STATE)
        limits = Limits(
            cfg.max_reasks, cfg.max_tokens, cfg.max_calls, cfg.max_cost, cfg.concurrency, cfg.threshold
        )
        runner = JudgeRunner(backend, journal, price, limits, cfg.progress)
        asyncio.run(_run(runner, backend, journal, items))
        if not runner.complete:
            status = f"stopped:{runner.stopped_by}"
    except KeyboardInterrupt:
        status = "interrupted"
    except (BackendError, JournalMismatch) as err:
        fail(PROG, redact(str(err)))
    if runner is None:
        return 130
    balance = judge_balance(runner.ledger)
    if status != "complete":
        print(format_summary(None, status, balance, runner.ledger, runner.cost, cfg.out), file=sys.stderr)
        return 130 if status == "interrupted" else 3
    applied = apply_verdicts(
        rows, cfg.mode, items, passthrough, runner.verdicts, cfg.threshold, cfg.on_invalid
    )
    base_url = redact_url(cfg.base_url) if cfg.base_url else None
    section = judge_stats(
        cfg,
        applied.counts,
        balance,
        runner.ledger,
        price,
        elapsed_s=time.monotonic() - started,
        base_url=base_url,
        retrieval=retrieval,
    )
    stats = {**stats_in, **row_counts(applied.rows), "judge": section}
    no_verdict = [
        {"item": s, "reason": v.reason, "detail": v.detail, "answer": v.answer}
        for s, v in runner.verdicts.items()
        if v.value is None
    ]
    try:
        write_judged_dir(
            cfg.data,
            cfg.out,
            output_table(table, applied.rows),
            stats,
            applied.rejects + no_verdict,
            lambda tmp: card_text(cfg.data, tmp, stats),
        )
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {cfg.out} is as it was before, or complete", file=sys.stderr)
        return 130
    except OSError as err:
        fail(PROG, f"--out: cannot write {cfg.out}: {err}")
    print(format_summary(section, status, balance, runner.ledger, runner.cost, cfg.out), file=sys.stderr)
    return 0


async def _run(runner: JudgeRunner, backend, journal: Journal, items) -> None:
    try:
        await runner.run(items)
    finally:
        await backend.close()
        await journal.close()


def cli(argv: list[str] | None = None) -> int:
    redacted_logging()
    cfg = parse(JudgeConfig, argv, PROG)
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
