"""Reading the dataset dir to judge, and writing the judged copy; the input is only ever read.

The judged dir is built in a hidden temporary dir beside `--out` and renamed into place at the end
(as `synth.mining.dirs` writes a mined copy), so an interrupted run leaves no half-written dataset.
Unlike a mined copy, `--out` holds state before it is complete: the judge's journal in
`OUT/.synth/`, written call by call. The new dir takes a copy of that folder, and a dir left
half-swapped by a crash (`.OUT.old-PID` without `OUT`) is put back on the next start
(`synth.dataset.dataset.recover_dir`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from common.outdir import OutDirError
from common.outdir import check_out as check_out_dir
from common.rows import JUDGE
from synth.dataset.dataset import replace_dir, write_derived, write_jsonl, write_text
from synth.mining.dirs import REWRITTEN, DatasetError, read_table

REQUIRED_COLUMNS = ("id", "task_type", "instruction", "query", "positive", "language")
STATE = ".synth"  # the judge's journal, retrieval cache and rejects, inside --out
JOURNAL = "judge_journal.jsonl"


def read_input(data: Path) -> tuple[pa.Table, list[dict]]:
    """The input table and its rows as dicts (optional columns absent -> None); DatasetError names the file."""
    table = read_table(data, REQUIRED_COLUMNS, allow_empty=True)
    rows = table.to_pylist()
    for row in rows:
        for name in ("negative", "language_pair", "passage_id", "call"):
            row.setdefault(name, None)
    return table, rows


def check_out(data: Path, out: Path) -> None:
    data_r, out_r = data.resolve(), out.resolve()
    if out_r == data_r or data_r in out_r.parents or out_r in data_r.parents:
        raise DatasetError(
            f"--out: {out} and the input dir {data} contain one another; the input is never modified"
        )
    try:  # empty, a judged dir, or the state (journal, retrieval cache) of a judge run not yet finished
        check_out_dir(out, "synth.judge")
    except OutDirError as err:
        raise DatasetError(str(err)) from None


def output_table(table: pa.Table, rows: list[dict]) -> pa.Table:
    """The kept rows with the input's columns (a previous judge column replaced) plus `judge`."""
    fields = [f for f in table.schema if f.name != JUDGE] + [pa.field(JUDGE, pa.string())]
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in fields} for r in rows], schema=pa.schema(fields)
    )


def write_judged_dir(data: Path, out: Path, table: pa.Table, stats: dict, rejects: list[dict], card) -> None:
    """Build OUT anew beside it and swap it in. `card(tmp)` returns the card's text for the dir
    being built (it reads the rows and draws the plots there), or None to keep none."""

    def build(tmp: Path) -> None:
        write_derived(data, tmp, table, stats, REWRITTEN)
        if (text := card(tmp)) is not None:
            write_text(tmp / "README.md", text)
        if (out / STATE).is_dir():  # the journal: a rerun pays for nothing it holds
            shutil.copytree(out / STATE, tmp / STATE)
        write_jsonl(tmp / STATE / "judge_rejects.jsonl", rejects)

    replace_dir(out, build)
