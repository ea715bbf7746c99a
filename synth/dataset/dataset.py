"""Writing a dataset dir (see shared/design.md): data/*.parquet, stats.json, README.md card, rejects.

Every file is written to a temporary name and renamed into place, so a crash while writing leaves
the previous version intact, never a half file. Rows and rejects are written as they are read (from
the run's row parts and journal), so writing a large dataset holds one batch in memory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.rows import ROW_SCHEMA

DATA_FILE = "data/train-00000-of-00001.parquet"


def replace_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


_replace_atomically = replace_atomically  # the name synth.corpus imports


def write_rows(out: Path, rows: list[dict]) -> Path:
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    path = out / DATA_FILE
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


ROW_GROUP_ROWS = 4096


def write_row_batches(out: Path, batches: Iterable[pa.RecordBatch]) -> int:
    """The data file from ROW_SCHEMA batches, written as they come (a row group's worth in memory,
    ROW_GROUP_ROWS rows); the rows."""
    path = out / DATA_FILE
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        group: list[pa.RecordBatch] = []
        with pq.ParquetWriter(tmp, ROW_SCHEMA, compression="zstd") as writer:
            for batch in batches:
                group.append(batch)
                rows += batch.num_rows
                if sum(b.num_rows for b in group) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(group, schema=ROW_SCHEMA))
                    group = []
            if any(b.num_rows for b in group):
                writer.write_table(pa.Table.from_batches(group, schema=ROW_SCHEMA))

    replace_atomically(path, write)
    return rows


def write_json(path: Path, value: dict) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """One JSON object a line, written as the records come (they may be read from disk lazily)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    replace_atomically(path, write)


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def replace_dir(out: Path, build: Callable[[Path], None]) -> None:
    """OUT built anew by `build(tmp)` in a hidden dir beside it, then swapped in: a crash leaves the
    old OUT (or, between the two renames, `.OUT.old-PID`, which `recover_dir` puts back)."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build(tmp)
        if not out.exists():
            os.replace(tmp, out)
            return
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recover_dir(out: Path) -> None:
    """Undo what a crash in `replace_dir` can leave: OUT renamed aside but its successor not yet in
    place (put back), and temporary dirs of dead runs (removed)."""
    for leftover in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind, _, pid = leftover.name.rpartition("-")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if kind.endswith(".old") and not out.exists():
            os.replace(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_derived(data: Path, tmp: Path, table: pa.Table, stats: dict, rewritten: set[str]) -> None:
    """A dataset dir made from `data` (mined, judged): its new rows and stats.json, and every visible
    file of `data` (plots) whose name is not in `rewritten`. Hidden ones (.synth) stay behind."""
    (tmp / DATA_FILE).parent.mkdir(parents=True)
    pq.write_table(table, tmp / DATA_FILE, compression="zstd")
    with open(tmp / DATA_FILE, "rb") as f:
        os.fsync(f.fileno())
    write_json(tmp / "stats.json", stats)
    for item in data.iterdir():
        if item.name in rewritten or item.name.startswith("."):
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, tmp / item.name)


def read_rows(out: Path) -> list[dict]:
    return pq.read_table(out / DATA_FILE).to_pylist()
