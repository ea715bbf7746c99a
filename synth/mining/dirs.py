"""Reading a dataset dir to mine and writing the mined copy beside it; the input is only ever read.

The output is built in a hidden temporary dir next to `--out` and renamed into place at the end, so
an interrupted run leaves no half-written dataset dir (and a previous `--out` stays as it was).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.candidates import TEACHER_SCORES
from common.outdir import OutDirError
from common.outdir import check_out as check_out_dir
from synth.dataset.dataset import DATA_FILE, replace_dir, write_derived, write_text

REQUIRED_COLUMNS = ("task_type", "instruction", "query", "positive", "language")
# source, call and passage_id name a row's document (synth.mining.negatives.row_source)
MINING_COLUMNS = (*REQUIRED_COLUMNS, "negative", "language_pair", "source", "call", "passage_id")
MINED_COLUMN = "mined_negatives"
# Files the mined dir gets anew; everything else visible in the input (plots) is copied.
REWRITTEN = {"data", "stats.json", "README.md"}
STATE = ".synth"  # inside --out: the teacher's finished parts (and judge journal), so a rerun resumes


class DatasetError(Exception):
    """The input or output dir cannot be used; the message is one line naming the path."""


def read_table(
    data: Path, required: tuple[str, ...] = REQUIRED_COLUMNS, allow_empty: bool = False
) -> pa.Table:
    """The rows of the dataset dir `data` (a later stage's input), checked: the columns `required`,
    non-null queries and positives; DatasetError names the path and what is wrong."""
    if not data.is_dir():
        raise DatasetError(f"--data: {data} is not a directory")
    path = data / DATA_FILE
    if not path.is_file():
        raise DatasetError(f"--data: {data} is not a dataset dir (no {DATA_FILE})")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"--data: cannot read {path}: {err}") from err
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DatasetError(f"--data: {path} lacks the column(s) {', '.join(missing)}")
    if table.num_rows == 0 and not allow_empty:
        raise DatasetError(f"--data: {path} has no rows to mine")
    for name in ("query", "positive"):
        if nulls := table.column(name).null_count:
            raise DatasetError(f"--data: {path} has {nulls} row(s) with a null {name}")
    return table


def mining_rows(table: pa.Table) -> list[dict]:
    """The columns mining reads, as dicts; the optional ones may be absent (-> None)."""
    rows = table.select([c for c in MINING_COLUMNS if c in table.column_names]).to_pylist()
    for row in rows:
        for column in MINING_COLUMNS[len(REQUIRED_COLUMNS) :]:
            row.setdefault(column, None)
    return rows


def read_stats(data: Path) -> dict:
    path = data / "stats.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"--data: cannot read {path}: {err}") from err


def check_out(data: Path, out: Path) -> None:
    if out.resolve() == data.resolve() or data.resolve() in out.resolve().parents:
        raise DatasetError(f"--out: {out} is inside the input dir {data}; the input is never modified")
    try:  # empty, a mined (or teacher-scored) dir, or the state of a teacher run not yet finished
        check_out_dir(out, "synth.mine")
    except OutDirError as err:
        raise DatasetError(str(err)) from None


def with_mined(table: pa.Table, negatives: list[list[str]], keep: list[bool]) -> pa.Table:
    """The input table, rows the consistency filter dropped left out, plus (or with a new) mined column.
    Teacher scores of the input are dropped: they followed the old candidates."""
    column = pa.array(negatives, type=pa.list_(pa.string()))
    stale = [c for c in (MINED_COLUMN, TEACHER_SCORES) if c in table.column_names]
    table = table.drop_columns(stale)  # mining a mined dir again replaces the old negatives
    table = table.append_column(MINED_COLUMN, column)
    return table.filter(pa.array(keep, type=pa.bool_()))


def with_teacher_scores(table: pa.Table, scores: pa.ChunkedArray) -> pa.Table:
    """`table` (the rows that remain) with its `teacher_scores` column set to `scores`."""
    assert len(scores) == table.num_rows, f"{len(scores)} score lists for {table.num_rows} rows"
    if TEACHER_SCORES in table.column_names:
        table = table.drop_columns([TEACHER_SCORES])
    return table.append_column(TEACHER_SCORES, scores)


def row_counts(rows: list[dict]) -> dict:
    """The per-row counts of stats.json, recomputed for the rows that remain."""
    per_type_language: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_type_language[r["task_type"]][r["language"]] += 1
    return {
        "rows": len(rows),
        "per_task_type": dict(sorted(Counter(r["task_type"] for r in rows).items())),
        "per_language": dict(Counter(r["language"] for r in rows).most_common()),
        "per_language_pair": dict(
            Counter(r["language_pair"] for r in rows if r["language_pair"]).most_common()
        ),
        "per_task_type_language": {t: dict(c.most_common()) for t, c in sorted(per_type_language.items())},
    }


def write_mined_dir(data: Path, out: Path, table: pa.Table, stats: dict, card: str | None) -> None:
    def build(tmp: Path) -> None:
        write_derived(data, tmp, table, stats, REWRITTEN)
        if card is not None:
            write_text(tmp / "README.md", card)
        if (out / STATE).is_dir():  # the teacher's parts: a rerun with other flags reuses what it can
            shutil.copytree(out / STATE, tmp / STATE)

    replace_dir(out, build)
