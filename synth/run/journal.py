"""Append-only journal of finished LLM calls: the run's memory across crashes.

Each answered call is one JSON line, written and fsynced before the answer is used, so a run killed
at any moment (kill -9 included) loses at most calls still in flight; rerunning the same command
reads the journal back and never pays for an answered call again. Writes are group-committed: all
records that arrive while one fsync runs share the next one, which keeps the cost per call small at
high concurrency.

Answers stay on disk: memory holds, per journal key, where its line is (offset and length) and the
tokens it cost in total, never the texts, so a run of 100M calls resumes in bounded memory per call;
`get(key)` reads one line back.

File layout (format version 1): a header line, then one record per call:
    {"format": "synthembed-journal", "version": 1, "fingerprint": {...}}
    {"k": "g:17:0", "h": "<prompt sha256[:16]>", "text": "...", "finish": "stop", "usage": [812, 403]}
A torn last line (the process died mid-write) is dropped on open.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

FORMAT = "synthembed-journal"
VERSION = 1
_LENGTH_BITS = 32  # an index entry is offset << 32 | length: one int per key, not a tuple


class JournalMismatch(ValueError):
    pass


class JournalBusy(JournalMismatch):
    """Another process is writing this journal (two runs on one --out would interleave answers)."""


def _check_header(path: Path, rec: dict) -> dict:
    if rec.get("format") != FORMAT:
        raise JournalMismatch(f"{path}: not a synthembed journal")
    if rec.get("version") != VERSION:
        raise JournalMismatch(f"{path}: journal format version {rec.get('version')}, expected {VERSION}")
    return rec


def _scan(path: Path) -> Iterator[tuple[int, bytes, dict]]:
    """(offset, raw line, record) of every intact line, the header first; stops at a torn tail."""
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # torn write from a crash: everything before it is intact
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError:
                return
            yield offset, raw, rec
            offset += len(raw)


def read_journal(path: Path) -> tuple[dict | None, dict[str, dict], int]:
    """(header, records by key, byte length of the intact prefix): the whole journal in memory, for
    tools and tests; a run reads it through `Journal`, which keeps no texts."""
    if not path.exists():
        return None, {}, 0
    header: dict | None = None
    records: dict[str, dict] = {}
    good = 0
    for offset, raw, rec in _scan(path):
        if header is None:
            header = _check_header(path, rec)
        else:
            records[rec["k"]] = rec
        good = offset + len(raw)
    return header, records, good


class JournalRecords(Mapping):
    """The journal's records by key, read from disk on access (`journal.records[key]`,
    `.values()` streams the file): what callers that walk every record (the judge's token count)
    see, without the journal holding the texts."""

    def __init__(self, journal: Journal):
        self._journal = journal

    def __getitem__(self, key: str) -> dict:
        record = self._journal.get(key)
        if record is None:
            raise KeyError(key)
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._journal.index))

    def __len__(self) -> int:
        return len(self._journal.index)


class Journal:
    """Async group-commit writer. `await append(rec)` returns once `rec` is on disk."""

    def __init__(self, path: Path, fingerprint: dict | None, readonly: bool = False):
        """`readonly`: read another run's answers (a pools dir), writing nothing; `fingerprint` None
        takes whatever the journal holds."""
        self.path = path
        self.index: dict[str, int] = {}  # key -> offset << 32 | length of its line
        self.usage = [0, 0]  # prompt and completion tokens of every record: all paid, now or before
        header, good = self._read(path)
        if readonly and header is None:
            raise JournalMismatch(f"{path}: no journal there")
        if fingerprint is not None and header is not None and header["fingerprint"] != fingerprint:
            diff = sorted(
                k
                for k in fingerprint.keys() | header["fingerprint"].keys()
                if fingerprint.get(k) != header["fingerprint"].get(k)
            )
            raise JournalMismatch(
                f"{path.parent.parent}: holds a run made with other settings ({', '.join(diff)}); "
                "use the same flags to resume, or a new --out"
            )
        self.header = header or {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint}
        self.records = JournalRecords(self)
        self._size = good
        if readonly:
            self._fd = os.open(path, os.O_RDONLY)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalBusy(
                f"{path.parent.parent}: another run is writing to this dir; wait for it or use another --out"
            ) from None
        os.ftruncate(self._fd, good)  # cut a torn tail so new records start on a fresh line
        if header is None:
            line = (json.dumps(self.header) + "\n").encode()
            try:
                self._write_at(line)
                os.fsync(self._fd)
                _fsync_dir(path.parent)
            except OSError:  # a full disk: let the lock go, so a rerun in this process (a Ray worker) gets it
                os.close(self._fd)
                raise
        self._pending: list[tuple[bytes, dict, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._writing = False
        self.writes = 0
        self.fsyncs = 0

    def _read(self, path: Path) -> tuple[dict | None, int]:
        if not path.exists():
            return None, 0
        header, good = None, 0
        for offset, raw, rec in _scan(path):
            if header is None:
                header = _check_header(path, rec)
            else:
                self._remember(rec, offset, len(raw))
            good = offset + len(raw)
        return header, good

    def _remember(self, record: dict, offset: int, length: int) -> None:
        self.index[record["k"]] = offset << _LENGTH_BITS | length
        usage = record.get("usage")
        if usage:
            self.usage[0] += usage[0]
            self.usage[1] += usage[1]

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def keys(self) -> list[str]:
        return list(self.index)

    def get(self, key: str) -> dict | None:
        at = self.index.get(key)
        if at is None:
            return None
        return json.loads(os.pread(self._fd, at & ((1 << _LENGTH_BITS) - 1), at >> _LENGTH_BITS))

    async def append(self, record: dict) -> None:
        if self._writer is None:
            self._wakeup = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(((json.dumps(record, ensure_ascii=False) + "\n").encode(), record, fut))
        self._wakeup.set()
        await fut

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            data = b"".join(b for b, _, _ in batch)
            start = self._size
            self._writing = True  # close() waits for this batch: on disk means in the index too
            try:
                # The write and fsync run off the event loop so calls keep flowing meanwhile.
                await loop.run_in_executor(None, self._write_and_sync, data)
            except OSError as err:
                self._writing = False
                os.ftruncate(self._fd, start)  # a partial write must not leave a line without its record
                self._size = start
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            self.writes += len(batch)
            self.fsyncs += 1
            offset = start
            for line, record, fut in batch:
                # Set here, not by the caller: a caller cancelled while waiting (Ctrl-C) must not
                # leave a record on disk that this run's accounting does not know about.
                self._remember(record, offset, len(line))
                offset += len(line)
                if not fut.done():
                    fut.set_result(None)
            self._writing = False

    def _write_at(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._size)
            view = view[n:]
            self._size += n

    def _write_and_sync(self, data: bytes) -> None:
        self._write_at(data)
        os.fsync(self._fd)

    async def close(self, keep_open: bool = False) -> None:
        """Wait for the records in flight to be on disk and stop the writer; close the file unless
        `keep_open` (a run that settles reads answers back, then calls `release`)."""
        if self._writer is not None:
            while self._pending or self._writing:
                await asyncio.sleep(0.001)
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass  # the writer only ever ends by this cancel
            self._writer = None
        if not keep_open:
            self.release()

    def release(self) -> None:
        """Close the file, which releases the lock: call it once the run has read what it needs (in a
        long-lived process, such as a Ray worker, a lock left behind would keep a retry out)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
