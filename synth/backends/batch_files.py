"""The Batch API's files on our side: request lines, result lines, and OUT/.synth/batches.json.

A request line and the result lines the server answers it with:

    {"custom_id": "g:17:0", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
    {"custom_id": "g:17:0", "response": {"status_code": 200, "body": {chat.completion}}, "error": null}
    {"custom_id": "g:18:0", "response": null, "error": {"code": "batch_expired", "message": "..."}}

`batches.json` lists every batch a run uploaded, with the hash of each request body, so a later
process knows which calls are already on the server:

    {"format_version": 1, "batches": [{"input_file_id": "file-abc", "id": "batch_xyz",
     "status": "in_progress", "requests": {"g:17:0": "3b372edc4a7dc354", ...}}]}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from synth.backends.base import BackendError, Completion

ENDPOINT = "/v1/chat/completions"
STATE_VERSION = 1


def body_digest(body: dict) -> str:
    """Hash of a request body: a recorded batch answers a call only if it sent the same body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def request_line(custom_id: str, body: dict) -> bytes:
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


def parse_result_line(line: dict) -> Completion | str:
    """One line of an output or error file -> a Completion, or the reason the call failed."""
    if error := line.get("error"):
        return str(error.get("code") or "batch_error") if isinstance(error, dict) else "batch_error"
    response = line.get("response") or {}
    status = response.get("status_code")
    if status != 200:
        return f"http_{status}"
    try:
        body = response["body"]
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return "bad_batch_line"


class BatchRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str
    requests: dict[str, str]  # custom_id -> body_digest of what was sent
    id: str | None = None  # None between upload and create
    status: str = "uploaded"  # then the server's: validating, in_progress, ..., completed


class _StateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int
    batches: list[BatchRecord]


class BatchState:
    """The records of batches.json, saved whole after each change: temp file, fsync, rename."""

    def __init__(self, path: Path, records: list[BatchRecord] | None = None):
        self.path = path
        self.records = records or []

    @classmethod
    def load(cls, path: Path) -> BatchState:
        if not path.exists():
            return cls(path)
        try:
            state = _StateFile.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as err:
            reason = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
            raise BackendError(
                f"{path}: unreadable batch state ({reason}); move it away to start over"
            ) from None
        if state.format_version != STATE_VERSION:
            raise BackendError(
                f"{path}: format_version {state.format_version}, this synth reads {STATE_VERSION}"
            )
        return cls(path, state.batches)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(_StateFile(format_version=STATE_VERSION, batches=self.records).model_dump_json())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself must survive a power cut too
        finally:
            os.close(fd)

    def find(self, key: str, digest: str, skip: set[int]) -> int | None:
        """Index of the latest record that sent this very request, unless `skip`ped (collected
        already) or failed validation (nothing of it ran: the call is sent again)."""
        for i in range(len(self.records) - 1, -1, -1):
            record = self.records[i]
            if i not in skip and record.status != "failed" and record.requests.get(key) == digest:
                return i
        return None
