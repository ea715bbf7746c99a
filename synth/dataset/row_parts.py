"""Rows streamed to disk as the fold makes them, so a run's memory does not grow with its rows.

The fold hands every answer it places to `RowParts.add`, in call-index order: its rows with a
verdict (None: kept; "exact" | "near": a duplicate of an earlier row; "decontaminated"). They are
buffered and written as parquet parts under `.synth/rows/`, each named by the call indices it
covers and renamed into place when whole:

    .synth/rows/part-000000000000-000000008211.parquet   rows of calls 0..8210, with a `verdict` column
    .synth/rows/manifest.json                              the settings the parts were folded under

Duplicates are kept (with their verdict) because `synth.merge` decides duplicates again across
shards: a row one shard dropped as a near copy of its own earlier row may be kept in the merged
data, when that earlier row is a duplicate of another shard's (near duplication is not transitive).

A resumed run folds the journal again from call 0 (the dedup index is rebuilt from the answers) but
writes no part twice: calls below `covered` are on disk already. Parts are deterministic given the
journal and the settings in the manifest; under other settings (a different --max-reasks, language
check or decontamination) they are written again. The dataset's data file is made from the parts'
kept rows at the end of a run (`kept_batches`), one part in memory at a time.

Not handled: two processes writing one dir (the journal's lock keeps a second run out).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.rows import ROW_SCHEMA

VERDICT = "verdict"  # null: kept; "exact" | "near" duplicate; "decontaminated"
PART_SCHEMA = ROW_SCHEMA.append(pa.field(VERDICT, pa.string()))
PART_ROWS = 8192  # rows per part, or PART_BYTES of text, whichever comes first: what a crash re-folds
PART_BYTES = 16 << 20
READ_ROWS = 1024  # rows per row group of a part, and per batch read back
FORMAT = 2  # 2: rows carry negative_dropped
_PART = re.compile(r"part-(\d{12})-(\d{12})\.parquet")
_TEXT_COLUMNS = ("instruction", "query", "positive", "negative")


@dataclass(frozen=True)
class Group:
    """One placed answer as the parts hold it: its call index, journal key, rows and verdict."""

    index: int
    key: str
    rows: list[dict]
    verdict: str | None


def call_index(key: str) -> int:
    """'g:17:0' -> 17"""
    return int(key.split(":", 2)[1])


class RowParts:
    def __init__(self, folder: Path, settings: dict):
        self.folder = folder
        self.settings = settings
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # a part a crash cut short
            stale.unlink()
        manifest = folder / "manifest.json"
        saved = json.loads(manifest.read_text()) if manifest.exists() else None
        if saved != {"format": FORMAT, "settings": settings}:
            for part in folder.glob("part-*.parquet"):
                part.unlink()  # folded under other settings: rows may differ, fold them again
            _write_json(manifest, {"format": FORMAT, "settings": settings})
        self.parts: list[tuple[int, int, Path]] = self._contiguous()
        self.covered = self.parts[-1][1] if self.parts else 0  # calls below it are on disk
        self._buffer: list[dict] = []
        self._bytes = 0
        self._start = self.covered
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="row-parts")  # one: parts land in order
        self._pending: Future | None = None

    def _contiguous(self) -> list[tuple[int, int, Path]]:
        """The parts that cover calls 0.. without a gap; any after a gap are removed."""
        found = sorted(
            (int(m[1]), int(m[2]), p)
            for p in self.folder.glob("part-*.parquet")
            if (m := _PART.fullmatch(p.name))
        )
        parts, end = [], 0
        for start, stop, path in found:
            if start != end:
                path.unlink()
                continue
            parts.append((start, stop, path))
            end = stop
        return parts

    def add(self, index: int, rows: list[dict], verdicts: list[str | None]) -> None:
        """The rows of the answer to call `index`, which the fold has just placed, each with its
        verdict (a call asked for several queries has one per query)."""
        if index < self.covered:
            return  # a resumed run re-folds calls whose rows are on disk already
        for row, verdict in zip(rows, verdicts, strict=True):
            row[VERDICT] = verdict
            self._bytes += sum(len(row[c] or "") for c in _TEXT_COLUMNS)
        self._buffer.extend(rows)
        if len(self._buffer) >= PART_ROWS or self._bytes >= PART_BYTES:
            self.flush(index + 1)

    def flush(self, until: int) -> None:
        """Write the buffered rows as the part of calls [start, until): every call below `until` has
        been added. The write runs on a worker thread; `close` waits for it."""
        if not self._buffer or until <= self._start:
            return
        rows, start = self._buffer, self._start
        self._buffer, self._bytes, self._start = [], 0, until
        path = self.folder / f"part-{start:012d}-{until:012d}.parquet"
        self.parts.append((start, until, path))
        self.covered = until
        previous = self._pending
        self._pending = self._executor.submit(_write_part, path, rows, previous)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.result()  # a failed write surfaces here
            self._pending = None
        self._executor.shutdown()

    def kept_batches(self, batch_rows: int = READ_ROWS) -> Iterator[pa.RecordBatch]:
        """The kept rows of every part, in call order, as ROW_SCHEMA batches."""
        for _, _, path in self.parts:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                kept = batch.filter(pc.is_null(batch.column(VERDICT)))
                yield pa.RecordBatch.from_arrays(kept.columns[:-1], schema=ROW_SCHEMA)


def read_groups(folder: Path, batch_rows: int = READ_ROWS) -> Iterator[Group]:
    """The placed answers of a parts folder, in call order, read a batch at a time (the queries of a
    call asked for several are answers of their own, with their own verdicts)."""
    parts = sorted((int(m[1]), p) for p in folder.glob("part-*.parquet") if (m := _PART.fullmatch(p.name)))
    group: list[dict] = []
    for _, path in parts:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                # one answer: a call's rows of one query (a call asked for several has one per query)
                if group and (row["call"], row["query"]) != (group[0]["call"], group[0]["query"]):
                    yield _group(group)
                    group = []
                group.append(row)
    if group:
        yield _group(group)


def _group(rows: list[dict]) -> Group:
    verdict = rows[0].pop(VERDICT)
    for row in rows[1:]:
        del row[VERDICT]
    return Group(call_index(rows[0]["call"]), rows[0]["call"], rows, verdict)


def _write_part(path: Path, rows: list[dict], previous: Future | None) -> None:
    if previous is not None:
        previous.result()  # a part never lands after a later one failed
    table = pa.Table.from_pylist(rows, schema=PART_SCHEMA)
    tmp = path.with_name(f".{path.name}.tmp")
    # Small row groups: whoever reads the parts back (the data file, synth.merge) decodes one at a time.
    pq.write_table(table, tmp, compression="zstd", row_group_size=READ_ROWS)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)
