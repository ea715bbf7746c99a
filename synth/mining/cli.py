"""`python -m synth.mine`: hard negatives re-mined from a dataset's own positives with an embedding model.

parse flags -> read the dataset dir and load the model(s) -> mine -> (--teacher) score each row's
candidates -> write a NEW dataset dir (`--out`) with a `mined_negatives` column (and `teacher_scores`),
stats.json's `mining` (and `teacher`) section and a re-rendered card. The input dir is only read.
Without --model, --teacher scores the input's own negatives (written and already mined).
--teacher-kind judge: --teacher is an LLM that grades each pair with synth.judge's prompt, through a
journal in OUT (`synth.mining.teacher_judge`); the LLM flags are synth.judge's.
Exit status: 0 done, 1 error (data or model), 2 bad flags, 3 stopped by --max-calls/--max-cost (rerun to
go on), 130 interrupted (rerun to go on).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow as pa

from common.cli import fail, opt, parse
from synth.backends.base import BackendError
from synth.corpus import CorpusError, load_corpus
from synth.dataset.dataset import recover_dir
from synth.judge.config import JudgeConfig
from synth.judge.report import format_summary as format_judge_summary
from synth.judge.run import judge_balance
from synth.mining.dirs import (
    MINED_COLUMN,
    STATE,
    DatasetError,
    check_out,
    mining_rows,
    read_stats,
    read_table,
    row_counts,
    with_mined,
    with_teacher_scores,
    write_mined_dir,
)
from synth.mining.embedder import QUERY_FORMATS, EmbedderError, STEncoder, resolve_query_format
from synth.mining.negatives import ExtraPassage, MiningOptions, mine
from synth.mining.neighbours import GUARD_DEFAULTS, GUARDS, Guard
from synth.mining.report import (
    copied_card,
    format_summary,
    format_teacher_summary,
    mining_stats,
    rerender_card,
    teacher_stats,
)
from synth.mining.teacher import TEACHER_KINDS, load_teacher
from synth.mining.teacher_judge import JudgeTeacher, TeacherStopped, column_grades
from synth.mining.teacher_scores import score_candidates
from synth.run.journal import JournalMismatch
from synth.run.secrets import redact

PROG = "synth.mine"
# synth.judge's LLM flags that --teacher-kind judge takes (the others keep the judge's defaults)
JUDGE_FLAGS = ("backend", "base_url", "api_key_env", "concurrency", "rpm", "tpm", "timeout", "max_retries",
               "max_calls", "max_cost", "max_reasks", "max_tokens", "prices", "price_in", "price_out")  # fmt: skip
_JUDGE = {f.name: f for f in fields(JudgeConfig)}


def judge_opt(name: str):
    """synth.judge's option `name`, its default and help, for the judge teacher."""
    return opt(_JUDGE[name].default, f"--teacher-kind judge: {_JUDGE[name].metadata['help']}")


@dataclass
class MineConfig:
    data: Path | None = opt(None, "dataset dir to mine (only read)", required=True)
    model: str | None = opt(
        None,
        "sentence-transformers model that mines: a local dir or a Hub id; unset "
        "with --teacher: score the input's own negatives, mine none",
    )
    out: Path | None = opt(None, "new dataset dir to write; unset: DATA-mined, beside the input")
    num_negatives: int = opt(7, "mined negatives per row")
    guard: str = opt(
        "relative",
        f"false-negative guard: {', '.join(GUARDS)} (skip candidates scoring above "
        "value x the positive's score, or above the positive's score - value)",
    )
    guard_value: float | None = opt(
        None, "the guard's ratio or margin; unset: 0.95 for relative, 0.05 for margin"
    )
    by_language: bool = opt(
        True, "mine within each (task type, language); --no-by-language: within task type"
    )
    corpus: Path | None = opt(
        None,
        "passages to mine from besides the dataset's positives (a corpus as "
        "synth.corpus reads it, e.g. the training passages synth.adapt writes)",
    )
    consistency_k: int | None = opt(None, "drop rows whose positive ranks below K for its own query (E5: 2)")
    query_format: str = opt(
        "auto",
        f"query text: {', '.join(QUERY_FORMATS)} (auto: instruct when the model "
        "records an 'Instruct:' prompt, else plain)",
    )
    teacher: str | None = opt(
        None,
        "score each row's query against its candidates (positive, negative, "
        "mined negatives) into `teacher_scores`: a cross-encoder or sentence-transformers "
        "model (local dir or Hub id), or with --teacher-kind judge an LLM",
    )
    teacher_kind: str = opt(
        "auto",
        f"--teacher's kind: {', '.join(TEACHER_KINDS)} (cross-encoder: raw logit; "
        "bi-encoder: cosine, --query-format applies; judge: an LLM's 1-5 grade, the mean of "
        "relevance and answerability; auto: cross- or bi-encoder from its config)",
    )
    teacher_chunk_rows: int = opt(4096, "rows per resumable part of teacher scores (a crash loses one part)")
    batch_size: int = opt(64, "texts (teacher: pairs) per model batch")
    device: str = opt("auto", "torch device: auto (cuda if available), cpu, cuda, cuda:1, ...")
    progress: bool = opt(True, "show progress bars")
    backend: str | None = judge_opt("backend")
    base_url: str | None = judge_opt("base_url")
    api_key_env: str = judge_opt("api_key_env")
    concurrency: int | None = judge_opt("concurrency")
    rpm: int | None = judge_opt("rpm")
    tpm: int | None = judge_opt("tpm")
    timeout: float = judge_opt("timeout")
    max_retries: int = judge_opt("max_retries")
    max_calls: int | None = judge_opt("max_calls")
    max_cost: float | None = judge_opt("max_cost")
    max_reasks: int = judge_opt("max_reasks")
    max_tokens: int = judge_opt("max_tokens")
    prices: Path | None = judge_opt("prices")
    price_in: float | None = judge_opt("price_in")
    price_out: float | None = judge_opt("price_out")

    def __post_init__(self) -> None:
        if self.data is None or not (self.model or self.teacher):
            raise ValueError("--data and --model (or --teacher) are required")
        if not self.model and (self.consistency_k is not None or self.corpus is not None):
            raise ValueError("--consistency-k and --corpus need --model: the model that ranks and mines")
        if self.out is None:
            self.out = self.data.with_name(
                f"{self.data.resolve().name}-{'mined' if self.model else 'scored'}"
            )
        for name in ("batch_size", "teacher_chunk_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.teacher_kind not in TEACHER_KINDS:
            raise ValueError(
                f"--teacher-kind: {self.teacher_kind!r} is not one of {', '.join(TEACHER_KINDS)}"
            )
        if self.teacher_kind == "judge":
            if not self.teacher:
                raise ValueError("--teacher-kind judge needs --teacher MODEL: the LLM that grades each pair")
            self.judge_config()  # raises the judge's one-line errors on its LLM flags
        elif given := [n for n in JUDGE_FLAGS if getattr(self, n) != _JUDGE[n].default]:
            raise ValueError(f"--{given[0].replace('_', '-')} is for --teacher-kind judge (an LLM teacher)")
        elif self.teacher == "judge" and self.teacher_kind == "auto":
            raise ValueError(
                "--teacher judge: give --teacher-kind judge and the judge's LLM as --teacher MODEL"
            )
        resolve_query_format(self.query_format, {})  # raises on an unknown format
        self.options()  # raises on bad --guard, --guard-value, --num-negatives, --consistency-k

    def judge_config(self) -> JudgeConfig:
        """The judge teacher's LLM settings, checked as synth.judge checks its own."""
        return JudgeConfig(
            data=self.data,
            out=self.out,
            mode="score",
            model=self.teacher,
            progress=False,
            **{name: getattr(self, name) for name in JUDGE_FLAGS},
        )

    def options(self) -> MiningOptions:
        value = GUARD_DEFAULTS.get(self.guard, 0.0) if self.guard_value is None else self.guard_value
        return MiningOptions(
            self.num_negatives, Guard(self.guard, value), self.by_language, self.consistency_k
        )


def main(cfg: MineConfig) -> int:
    started = time.monotonic()
    try:
        table = read_table(cfg.data)
        stats_in = read_stats(cfg.data)
        recover_dir(cfg.out)  # a crash between replace_dir's two renames left OUT aside
        check_out(cfg.data, cfg.out)
        extra = [(p.document, p.id) for p in load_corpus(cfg.corpus).passages] if cfg.corpus else []
        encoder = cfg.model and STEncoder.load(
            cfg.model,
            device=cfg.device,
            query_format=cfg.query_format,
            batch_size=cfg.batch_size,
            progress=cfg.progress,
        )
        teacher = cfg.teacher and _load_teacher(cfg, table, stats_in)
    except (DatasetError, EmbedderError, CorpusError, JournalMismatch, OSError) as err:
        fail(PROG, str(err))
    except ValueError as err:  # the judge's --prices file
        fail(PROG, str(err), 2)
    try:
        return _run(cfg, table, stats_in, encoder, teacher, extra, started)
    finally:
        if isinstance(teacher, JudgeTeacher):
            teacher.close()


def _load_teacher(cfg: MineConfig, table: pa.Table, stats_in: dict):
    if cfg.teacher_kind == "judge":
        known = column_grades(table, stats_in, cfg.teacher)
        return JudgeTeacher(cfg.judge_config(), cfg.out / STATE, known)
    return load_teacher(
        cfg.teacher,
        cfg.teacher_kind,
        device=cfg.device,
        query_format=cfg.query_format,
        batch_size=cfg.batch_size,
        progress=cfg.progress,
    )


def _run(
    cfg: MineConfig,
    table: pa.Table,
    stats_in: dict,
    encoder,
    teacher,
    extra: list[ExtraPassage],
    started: float,
) -> int:
    rows = mining_rows(table)
    stats = dict(stats_in)
    try:
        if encoder:
            mined = mine(
                rows, encoder, cfg.options(), progress=cfg.progress, device=encoder.device, extra=extra
            )
            stats["mining"] = mining_stats(
                mined,
                cfg.options(),
                source=cfg.data.resolve().name,
                model=cfg.model,
                query_format=encoder.query_format,
                device=encoder.device,
                elapsed_s=time.monotonic() - started,
            )
            stats.pop("teacher", None)  # the input's teacher scored other candidates
            rows = [r for r, keep in zip(rows, mined.keep, strict=True) if keep]
            negatives = [n for n, keep in zip(mined.negatives, mined.keep, strict=True) if keep]
            table = with_mined(table, mined.negatives, mined.keep)
        else:  # score what the input has: its written and already mined negatives
            negatives = (
                table.column(MINED_COLUMN).to_pylist()
                if MINED_COLUMN in table.column_names
                else [[]] * len(rows)
            )
        stats.update(row_counts(rows))
        if teacher:
            at = time.monotonic()
            try:
                scored = score_candidates(
                    rows, negatives, teacher, cfg.out / STATE, cfg.teacher_chunk_rows, cfg.progress
                )
            except TeacherStopped as stop:
                r = teacher.runner
                print(
                    format_judge_summary(
                        None, f"stopped:{stop.which}", judge_balance(r.ledger), r.ledger, r.cost, cfg.out
                    ),
                    file=sys.stderr,
                )
                return 3
            except BackendError as err:
                fail(PROG, redact(str(err)))
            if isinstance(teacher, JudgeTeacher):
                scored.calls = teacher.calls()
            table, rows, scored = _drop_unscored(table, rows, scored)
            stats.update(row_counts(rows))
            table = with_teacher_scores(table, scored.column)
            stats["teacher"] = teacher_stats(
                teacher,
                scored,
                scored.column,
                elapsed_s=time.monotonic() - at,
                batch_size=cfg.batch_size,
                chunk_rows=cfg.teacher_chunk_rows,
            )
        new = (stats.get("mining") if encoder else None), stats.get("teacher")
        write_mined_dir(cfg.data, cfg.out, table, stats, copied_card(cfg.data, *new))
        rerender_card(cfg.data, cfg.out, stats)
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; {cfg.out} is as it was before, or complete; rerun to go on",
            file=sys.stderr,
        )
        return 130
    except OSError as err:
        fail(PROG, f"--out: cannot write {cfg.out}: {err}")
    if encoder:
        print(format_summary(stats["mining"], cfg.out), file=sys.stderr)
    if teacher:
        print(format_teacher_summary(stats["teacher"]), file=sys.stderr)
    return 0


def _drop_unscored(table: pa.Table, rows: list[dict], scored):
    """Rows with a candidate the teacher gave no score (NaN: the judge never answered validly) leave
    the output, counted: training needs every candidate of a row scored."""
    keep = [all(math.isfinite(s) for s in scores) for scores in scored.column.to_pylist()]
    if all(keep):
        return table, rows, scored
    mask = pa.array(keep, type=pa.bool_())
    scored.column, scored.rows_dropped = scored.column.filter(mask), keep.count(False)
    return table.filter(mask), [r for r, k in zip(rows, keep, strict=True) if k], scored


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = parse(MineConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
