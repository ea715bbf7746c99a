"""The fake OpenAI server plus the files and batches endpoints of the Batch API, on 127.0.0.1.

Each request line of a batch is answered by the same `FakeLLM.answer(prompt, Random(custom_id))` as
a live call with that key, so a batch and a live run give the same answers. A batch is
`validating` for the first half of `batch_delay` seconds, `in_progress` for the second half, and
then finishes (`completed`, or the fault configured for it):

    with FakeBatchOpenAI(api_key="sk-test", batch_delay=0.2, error_ids={"g:3:0"}) as server:
        ...  # server.files_uploaded, server.batches_created, server.submitted (custom_id -> times)

Faults: `error_ids` (those lines come back in the error file as HTTP 400), `fail_batches` (ordinals
of batches that fail validation), `expire_batches` (finish `expired`: the first half of their lines
answered, the rest `batch_expired`), and `POST /v1/batches/{id}/cancel` (ends `cancelled`, no
answers). Input lines are validated like OpenAI does (method, url, unique custom_id).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter

from synth.testing.fake_openai import FakeOpenAI

ENDPOINT = "/v1/chat/completions"


class FakeBatchOpenAI(FakeOpenAI):
    def __init__(
        self,
        *,
        batch_delay: float = 0.2,
        error_ids: set[str] | frozenset[str] = frozenset(),
        fail_batches: set[int] | frozenset[int] = frozenset(),
        expire_batches: set[int] | frozenset[int] = frozenset(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.batch_delay = batch_delay
        self.error_ids = set(error_ids)
        self.fail_batches = set(fail_batches)
        self.expire_batches = set(expire_batches)
        self.files: dict[str, dict] = {}  # id -> {"meta": FileObject json, "data": bytes}
        self.batches: dict[str, dict] = {}  # id -> Batch json
        self.files_uploaded = 0  # purpose=batch uploads only, not the output files made here
        self.batches_created = 0
        self.submitted: Counter[str] = Counter()  # custom_id -> batches it was sent in
        self._started: dict[str, float] = {}
        self._valid: set[str] = set()  # batches past validation

    # ---- plumbing ----------------------------------------------------------------------------
    def _denied(self, request):
        from aiohttp import web

        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            error = {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return web.json_response({"error": error}, status=401)
        return None

    @staticmethod
    def _error(status: int, message: str):
        from aiohttp import web

        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error"}}, status=status
        )

    def _new_file(self, data: bytes, filename: str, purpose: str) -> dict:
        file_id = f"file-{len(self.files):05d}"
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.files[file_id] = {"meta": meta, "data": data}
        return meta

    # ---- files -------------------------------------------------------------------------------
    async def _upload(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return self._error(400, "missing 'file' part")
        meta = self._new_file(upload.file.read(), upload.filename or "upload.jsonl", str(form.get("purpose")))
        if meta["purpose"] == "batch":
            self.files_uploaded += 1
        return web.json_response(meta)

    async def _content(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return self._error(404, "No such File object")
        return web.Response(body=stored["data"], content_type="application/octet-stream")

    # ---- batches -----------------------------------------------------------------------------
    async def _create_batch(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        body = await request.json()
        stored = self.files.get(body.get("input_file_id", ""))
        if stored is None or stored["meta"]["purpose"] != "batch":
            return self._error(400, "input_file_id must name a file uploaded with purpose 'batch'")
        if body.get("endpoint") != ENDPOINT or body.get("completion_window") != "24h":
            return self._error(400, "only endpoint /v1/chat/completions and completion_window 24h are served")
        batch_id = f"batch_{len(self.batches):05d}"
        lines = stored["data"].decode().splitlines()
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": ENDPOINT,
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "metadata": body.get("metadata"),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }
        self.batches[batch_id] = batch
        self._started[batch_id] = time.monotonic()
        self.batches_created += 1
        for raw in lines:
            self.submitted[json.loads(raw).get("custom_id")] += 1
        return web.json_response(batch)

    async def _get_batch(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return self._error(404, "No such Batch object")
        self._advance(batch)
        return web.json_response(batch)

    async def _list_batches(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        data = list(reversed(self.batches.values()))[: int(request.query.get("limit", 20))]  # newest first
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _cancel_batch(self, request):
        from aiohttp import web

        if denied := self._denied(request):
            return denied
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return self._error(404, "No such Batch object")
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelling"
        return web.json_response(batch)

    # ---- a batch's life ----------------------------------------------------------------------
    def _advance(self, batch: dict) -> None:
        elapsed = time.monotonic() - self._started[batch["id"]]
        ordinal = int(batch["id"].rsplit("_", 1)[1])
        counts = batch["request_counts"]
        if batch["status"] == "cancelling":
            batch["status"] = "cancelled"
        elif batch["status"] not in ("validating", "in_progress"):
            return  # finished
        elif elapsed < self.batch_delay / 2:
            batch["status"] = "validating"
        elif batch["id"] not in self._valid and (problem := self._problem(batch, ordinal)):
            batch["status"] = "failed"
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": problem, "line": None}],
            }
        elif elapsed < self.batch_delay:
            self._valid.add(batch["id"])
            batch["status"] = "in_progress"
            counts["completed"] = int(counts["total"] * (elapsed / self.batch_delay - 0.5) * 2)
        else:
            self._finish(batch, "expired" if ordinal in self.expire_batches else "completed")

    def _lines(self, batch: dict) -> list[dict]:
        return [
            json.loads(raw) for raw in self.files[batch["input_file_id"]]["data"].decode().splitlines() if raw
        ]

    def _problem(self, batch: dict, ordinal: int) -> str | None:
        """Why validation fails this batch, or None."""
        if ordinal in self.fail_batches:
            return "Enqueued token limit reached for this model"
        ids = set()
        for n, line in enumerate(self._lines(batch), 1):
            if line.get("method") != "POST" or line.get("url") != ENDPOINT or "custom_id" not in line:
                return f"line {n}: needs custom_id, method POST and url {ENDPOINT}"
            if line["custom_id"] in ids:
                return f"line {n}: duplicate custom_id {line['custom_id']!r}"
            if "messages" not in line.get("body", {}):
                return f"line {n}: body has no messages"
            ids.add(line["custom_id"])
        return None

    def _finish(self, batch: dict, status: str) -> None:
        lines = self._lines(batch)
        answered = lines if status == "completed" else lines[: len(lines) // 2]
        out, errors = [], []
        for line in answered:
            result = self._answer_line(line, batch["id"])
            (out if result["response"]["status_code"] == 200 else errors).append(result)
        for line in lines[len(answered) :]:
            error = {
                "code": "batch_expired",
                "message": "This request could not be executed before the batch expired.",
            }
            errors.append(
                {
                    "id": f"batch_req_{line['custom_id']}",
                    "custom_id": line["custom_id"],
                    "response": None,
                    "error": error,
                }
            )
        if out:
            batch["output_file_id"] = self._jsonl_file(out, f"{batch['id']}_output.jsonl")
        if errors:
            batch["error_file_id"] = self._jsonl_file(errors, f"{batch['id']}_error.jsonl")
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(errors)}
        batch["status"] = status

    def _jsonl_file(self, records: list[dict], filename: str) -> str:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        return self._new_file(data, filename, "batch_output")["id"]

    def _answer_line(self, line: dict, batch_id: str) -> dict:
        key, body = line["custom_id"], line["body"]
        prompt = body["messages"][-1]["content"]
        entry = {
            "key": key,
            "prompt": prompt,
            "nth": self._record(key, prompt),
            "status": 200,
            "batch": batch_id,
            "t": time.monotonic(),
            "response_format": body.get("response_format"),
            "max_tokens": body.get("max_tokens"),
            "body": body,
        }
        if key in self.error_ids:
            entry["status"] = 400
            self.requests.append(entry)
            error = {"error": {"message": "Invalid 'messages': too long.", "type": "invalid_request_error"}}
            return {
                "id": f"batch_req_{key}",
                "custom_id": key,
                "error": None,
                "response": {"status_code": 400, "request_id": f"req_{key}", "body": error},
            }
        content, entry["fault"] = self.llm.answer(prompt, random.Random(key))
        self.requests.append(entry)
        completion_tokens = max(1, len(content) // 4)
        completion = {
            "id": f"chatcmpl-{key}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": completion_tokens,
                "total_tokens": len(prompt) // 4 + completion_tokens,
            },
        }
        return {
            "id": f"batch_req_{key}",
            "custom_id": key,
            "error": None,
            "response": {"status_code": 200, "request_id": f"req_{key}", "body": completion},
        }

    # ---- the app: the live routes plus the batch ones ----------------------------------------
    client_max_size = 256 * 1024 * 1024  # request files run to 200 MB

    def routes(self, app) -> None:
        super().routes(app)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._content)
        app.router.add_post("/v1/batches", self._create_batch)
        app.router.add_get("/v1/batches", self._list_batches)
        app.router.add_get("/v1/batches/{batch_id}", self._get_batch)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._cancel_batch)
