"""Writing a dataset dir (see shared/design.md): data/*.parquet, stats.json, README.md card, rejects.

Every file is written to a temporary name and renamed into place, so a crash while writing leaves
the previous version intact, never a half file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synth.rows import ROW_SCHEMA

DATA_FILE = "data/train-00000-of-00001.parquet"


def _replace_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_rows(out: Path, rows: list[dict]) -> Path:
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    path = out / DATA_FILE
    _replace_atomically(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def write_json(path: Path, value: dict) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    _replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_jsonl(path: Path, records: list[dict]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    _replace_atomically(path, lambda tmp: tmp.write_text(lines, encoding="utf-8"))


def write_text(path: Path, text: str) -> None:
    _replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_rows(out: Path) -> list[dict]:
    return pq.read_table(out / DATA_FILE).to_pylist()
