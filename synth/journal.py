"""Append-only journal of finished LLM calls: the run's memory across crashes.

Each answered call is one JSON line, written and fsynced before the answer is used, so a run killed
at any moment (kill -9 included) loses at most calls still in flight; rerunning the same command
reads the journal back and never pays for an answered call again. Writes are group-committed: all
records that arrive while one fsync runs share the next one, which keeps the cost per call small at
high concurrency.

File layout (format version 1): a header line, then one record per call:
    {"format": "synthembed-journal", "version": 1, "fingerprint": {...}}
    {"k": "g:17:0", "h": "<prompt sha256[:16]>", "text": "...", "finish": "stop", "usage": [812, 403]}
A torn last line (the process died mid-write) is dropped on open.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

FORMAT = "synthembed-journal"
VERSION = 1


class JournalMismatch(ValueError):
    pass


def read_journal(path: Path) -> tuple[dict | None, dict[str, dict], int]:
    """(header, records by key, byte length of the intact prefix)."""
    if not path.exists():
        return None, {}, 0
    header: dict | None = None
    records: dict[str, dict] = {}
    good = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # torn write from a crash: everything before it is intact
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError:
                break
            if header is None:
                if rec.get("format") != FORMAT:
                    raise JournalMismatch(f"{path}: not a synthembed journal")
                if rec.get("version") != VERSION:
                    raise JournalMismatch(
                        f"{path}: journal format version {rec.get('version')}, expected {VERSION}"
                    )
                header = rec
            else:
                records[rec["k"]] = rec
            good += len(raw)
    return header, records, good


class Journal:
    """Async group-commit writer. `await append(rec)` returns once `rec` is on disk."""

    def __init__(self, path: Path, fingerprint: dict):
        self.path = path
        header, self.records, good = read_journal(path)
        if header is not None and header["fingerprint"] != fingerprint:
            diff = sorted(
                k
                for k in fingerprint.keys() | header["fingerprint"].keys()
                if fingerprint.get(k) != header["fingerprint"].get(k)
            )
            raise JournalMismatch(
                f"{path.parent.parent}: holds a run made with other settings ({', '.join(diff)}); "
                "use the same flags to resume, or a new --out"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(self._fd, good)  # cut a torn tail so new records start on a fresh line
        os.lseek(self._fd, good, os.SEEK_SET)
        if header is None:
            line = json.dumps({"format": FORMAT, "version": VERSION, "fingerprint": fingerprint})
            os.write(self._fd, (line + "\n").encode())
            os.fsync(self._fd)
            _fsync_dir(path.parent)
        self._pending: list[tuple[bytes, dict, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._writing = False
        self.writes = 0
        self.fsyncs = 0

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

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
            self._writing = True  # close() waits for this batch: on disk means in `records` too
            try:
                # The write and fsync run off the event loop so calls keep flowing meanwhile.
                await loop.run_in_executor(None, self._write_and_sync, data)
            except OSError as err:
                self._writing = False
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            self.writes += len(batch)
            self.fsyncs += 1
            for _, record, fut in batch:
                # Set here, not by the caller: a caller cancelled while waiting (Ctrl-C) must not
                # leave a record on disk that this run's accounting does not know about.
                self.records[record["k"]] = record
                if not fut.done():
                    fut.set_result(None)
            self._writing = False

    def _write_and_sync(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    async def close(self) -> None:
        if self._writer is not None:
            while self._pending or self._writing:
                await asyncio.sleep(0.001)
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass  # the writer only ever ends by this cancel
            self._writer = None
        os.close(self._fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
