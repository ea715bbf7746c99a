"""What every mode of `synth.generate` shares: the flags checked, the plan and its fingerprint, the
journal, the runner, and the exit status at the end. Errors are `GenerateError`s (message, exit
status); only the CLI (`synth.generate`) turns them into one line and an exit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from common.outdir import OutDirError, check_out, disk_error
from synth.backends.build import backend_price, make_backend
from synth.card.publish import PublishError, check_repo_id, publish, resolve_token
from synth.checks.decontam import DecontamError, Decontaminator
from synth.corpus import CorpusError
from synth.dataset.shard_files import settings_of
from synth.mining.embedder import EmbedderError
from synth.modes.corpus_run import corpus_section, drop_multi_hop, ground
from synth.plan.languages import parse_languages
from synth.plan.plan import Plan, template_hashes
from synth.plan.pricing import Price
from synth.plan.tasks import fit_to_languages, parse_task_mix
from synth.run.config import GenerateConfig
from synth.run.journal import Journal, JournalMismatch
from synth.run.progress import Progress
from synth.run.runner import Limits, Runner


class GenerateError(Exception):
    """A run that cannot go on: `str(err)` is the one line the CLI prints, `status` its exit status
    (1 a failure, 2 bad input)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


@dataclass
class Setup:
    """What every way of running shares: the plan, its fingerprint (the journal's), the price."""

    plan: Plan
    fingerprint: dict
    price: Price
    languages: dict[str, float]
    task_mix: dict[str, float]
    corpus: dict | None = None  # a grounded run's corpus section (synth.modes.corpus_run.corpus_section)


def check_flags(cfg: GenerateConfig) -> tuple[dict[str, float], dict[str, float], Price]:
    try:
        languages = parse_languages(cfg.languages)
        task_mix = parse_task_mix(cfg.task_types, cfg.task_mix, corpus=cfg.corpus is not None)
        named = {t.split(":")[0].strip() for t in f"{cfg.task_types or ''},{cfg.task_mix or ''}".split(",")}
        task_mix, notice = fit_to_languages(task_mix, len(languages), "bitext" in named)
        task_mix, notice2 = drop_multi_hop(task_mix, named, cfg.neighbour_model)
        for line in filter(None, (cfg.backend_note, notice, notice2)):
            print(line, file=sys.stderr)
        price = backend_price(cfg)
    except ValueError as err:
        raise GenerateError(str(err), 2) from err
    try:  # before anything is written there: never into a file, another command's dir or a stranger's
        check_out(cfg.out, "synth.generate", allow_nonempty=cfg.allow_nonempty)
    except OutDirError as err:
        raise GenerateError(str(err), 2) from err
    if cfg.push_to_hub and not cfg.dry_run:
        try:  # a bad repo id or a missing token must fail before any money is spent, not after
            check_repo_id(cfg.push_to_hub, "--push-to-hub")
            resolve_token(None)
        except PublishError as err:
            raise GenerateError(str(err), 2) from err
    return languages, task_mix, price


def make_setup(cfg: GenerateConfig, languages: dict, task_mix: dict, price: Price) -> Setup:
    corpus = grounding = None
    if cfg.corpus is not None:
        try:
            corpus, grounding = ground(
                cfg.corpus, cfg.chunk_tokens, cfg.seed, task_mix, cfg.neighbour_model, cfg.out
            )
        except (CorpusError, ValueError, EmbedderError) as err:
            raise GenerateError(str(err), 2 if isinstance(err, CorpusError) else 1) from err
    examples = cfg.example_query_texts
    plan = Plan(
        cfg.seed,
        task_mix,
        languages,
        cfg.examples_per_task,
        grounding,
        corpus.index if corpus else None,
        examples,
        cfg.llm_negatives,
        cfg.queries_per_call,
    )
    fingerprint = {
        "seed": cfg.seed,
        "model": cfg.model,
        "languages": languages,
        "task_mix": task_mix,
        "examples_per_task": cfg.examples_per_task,
        "templates": template_hashes(),
    }
    if corpus is not None:  # another corpus or chunking would ask other questions under the same keys
        fingerprint["corpus"] = corpus.fingerprint
    if examples:  # other examples ask other questions too
        fingerprint["example_queries"] = list(examples)
    if not cfg.llm_negatives:  # so does leaving the negative out
        fingerprint["llm_negatives"] = False
    if cfg.queries_per_call > 1:  # and asking several queries at once
        fingerprint["queries_per_call"] = cfg.queries_per_call
    section = corpus_section(cfg.corpus, cfg.chunk_tokens, corpus) if corpus is not None else None
    return Setup(plan, fingerprint, price, languages, task_mix, section)


def open_journal(cfg: GenerateConfig, fingerprint: dict) -> Journal:
    try:
        return Journal(cfg.out / ".synth" / "journal.jsonl", fingerprint)
    except OSError as err:
        if disk_error(err, cfg.out, "") is not None:
            raise  # a full or read-only disk: synth.generate's edge says so, and that a rerun goes on
        raise GenerateError(str(err)) from err
    except JournalMismatch as err:
        raise GenerateError(str(err)) from err


def build_runner(cfg: GenerateConfig, setup: Setup, journal: Journal, target: int, **sharding) -> Runner:
    """The runner of a run, a shard or a pools step: everything but where its rows and pools go."""
    try:
        decontaminator = Decontaminator(cfg.decontaminate) if cfg.decontaminate else None
    except DecontamError as err:
        raise GenerateError(str(err), 2) from err
    backend = make_backend(cfg, cfg.out / ".synth")
    limits = Limits(
        target,
        cfg.max_reasks,
        cfg.max_calls,
        cfg.max_cost,
        cfg.concurrency,
        cfg.max_tokens_cap,
        cfg.brainstorm_share,
    )
    progress = Progress(target, disable=not cfg.progress)
    return Runner(
        backend,
        journal,
        setup.plan,
        limits,
        setup.price,
        cfg.model,
        progress,
        cfg.language_check,
        decontaminator,
        **sharding,
    )


def parts_settings(cfg: GenerateConfig, fingerprint: dict) -> dict:
    """What the rows of a call depend on besides the journal: parts folded under other values are redone."""
    return {"fingerprint": fingerprint, **settings_of(cfg)}


def finish(cfg: GenerateConfig, status: str) -> int:
    """Publish a complete run if asked; the exit status."""
    if cfg.push_to_hub and status == "complete":
        try:
            url = publish(cfg.out, cfg.push_to_hub, cfg.private, None)
        except PublishError as err:
            raise GenerateError(f"--push-to-hub: {err}") from err
        print(f"published: {url}", file=sys.stderr)
    elif cfg.push_to_hub:
        print(f"not published ({status}): rerun to finish; it is pushed once complete", file=sys.stderr)
    return {"complete": 0, "interrupted": 130}.get(status, 3)
