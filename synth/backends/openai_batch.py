"""`openai-batch` backend: the OpenAI Batch API, half the price of live calls, answers within 24 h.

The runner awaits `complete(request)` once per call, exactly as with the live backend. Calls that
wait together are cut into one batch once the queue has been quiet for `window` seconds (or holds
`max_requests`, or ~190 MB), written as a JSONL request file whose `custom_id` is the journal key
(formats in `batch_files`), uploaded, submitted, polled, and each waiting call is answered from
the line of the output or error file with its `custom_id`. Control calls (upload, create, status,
download) are retried by the SDK; until one of them succeeds, none is, so a wrong URL or key fails
in seconds.

Resume: every batch is recorded in `batches.json` (input file, batch id, each custom_id with a
hash of its request body) before it is waited on. In a new process, a call whose key and body match
a recorded batch is answered by polling and downloading that batch, never by submitting it again;
the runner's journal answers the calls that were already delivered. A crash between create and
saving the batch id is healed by finding the input file among the server's batches.

Not handled: cancelling batches on exit (they run on and a rerun collects them), --rpm/--tpm (the
Batch API has an enqueued-token limit instead: a batch over it fails; lower --batch-max-requests),
and keeping request files locally (they stay on the server for 30 days).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import replace
from pathlib import Path

import openai

from synth.backends.base import BackendCounters, BackendError, ChatRequest, Completion, RequestFailed
from synth.backends.batch_files import (
    ENDPOINT,
    BatchRecord,
    BatchState,
    body_digest,
    parse_result_line,
    request_line,
)
from synth.backends.openai_backend import COMPLETION_TOKENS_PREFIXES, connection_reason, short_error
from synth.plan.pricing import Price
from synth.run.secrets import redact_url

log = logging.getLogger("synth.batch")

MAX_REQUESTS = 50_000  # OpenAI's limit of requests in one batch
MAX_BYTES = 190 * 2**20  # OpenAI takes request files up to 200 MB
TERMINAL = ("completed", "failed", "expired", "cancelled")
LOST_CONTACT_POLLS = 5  # consecutive failed status checks (each retried by the SDK) before giving up


def batch_price(price: Price) -> Price:
    """The Batch API bills half the live rates for input and output tokens alike."""
    return replace(
        price, input_per_million=price.input_per_million / 2, output_per_million=price.output_per_million / 2
    )


class OpenAIBatchBackend:
    name = "openai-batch"
    string_lengths = False

    def __init__(
        self,
        model: str,
        api_key: str | None,
        state_path: Path,
        base_url: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 5,
        temperature: float = 1.0,
        top_p: float = 1.0,
        guided: bool = False,
        window: float = 5.0,
        max_requests: int = MAX_REQUESTS,
        poll_s: float = 30.0,
    ):
        if not api_key and not base_url:
            raise BackendError("OPENAI_API_KEY is not set: export it, or pass --base-url for a local server")
        if not 1 <= max_requests <= MAX_REQUESTS:
            raise BackendError(f"--batch-max-requests must be in 1..{MAX_REQUESTS}, got {max_requests}")
        self.model = model
        self.where = redact_url(base_url) if base_url else "api.openai.com"
        # The SDK retries control calls (upload, create, status, download) on 429/5xx/timeouts.
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "EMPTY", base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.temperature, self.top_p, self.guided = temperature, top_p, guided
        self.window, self.max_requests, self.poll_s = window, max_requests, poll_s
        self.tokens_param = (
            "max_completion_tokens"
            if model.rsplit("/", 1)[-1].startswith(COMPLETION_TOKENS_PREFIXES)
            else "max_tokens"
        )
        self.state = BatchState.load(state_path)
        self.counters = BackendCounters()
        self.batch_sizes: list[int] = []  # requests per batch submitted by this process
        self.any_success = False  # a control call got through: connection errors are no longer fatal
        # A batch has answered (here or in an earlier process): a failed one is no longer a setup error.
        self.any_batch_done = any(r.status == "completed" for r in self.state.records)
        self._queue: deque[tuple[str, str, dict]] = deque()  # (custom_id, digest, body) not yet sent
        self._waiting: dict[str, list[asyncio.Future]] = {}
        # Answers of resumed batches to calls not made yet: key -> (body digest, answer).
        self._results: dict[str, tuple[str, Completion | str]] = {}
        self._collected: set[int] = set()  # state records downloaded in this process
        self._tasks: dict[int, asyncio.Task] = {}  # record index -> its poll-and-collect task
        self._fresh: set[int] = set()  # state records uploaded by this process (none created yet)
        self._arrived: asyncio.Event | None = None
        self._cutter: asyncio.Task | None = None
        self._fatal: BackendError | None = None

    # ---- the runner's side -------------------------------------------------------------------
    def body(self, request: ChatRequest) -> dict:
        """The body the live backend sends for this request."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": self.temperature,
            "top_p": self.top_p,
            self.tokens_param: request.max_tokens,
        }
        if self.guided and request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "example", "schema": request.json_schema, "strict": True},
            }
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        if self._fatal is not None:
            raise self._fatal
        body = self.body(request)
        digest = body_digest(body)
        if request.key in self._results and self._results[request.key][0] == digest:
            return _deliver(self._results.pop(request.key)[1])
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request.key, []).append(fut)
        index = self.state.find(request.key, digest, self._collected)
        if index is not None:
            self._collect(index)  # submitted by an earlier process: answer from that batch
        else:
            self._enqueue(request.key, digest, body)
        return _deliver(await fut)

    def _enqueue(self, key: str, digest: str, body: dict) -> None:
        if self._cutter is None:
            self._arrived = asyncio.Event()
            self._cutter = asyncio.get_running_loop().create_task(self._cut_batches())
            self._cutter.add_done_callback(self._check_task)
        self._queue.append((key, digest, body))
        self._arrived.set()

    # ---- cutting the queue into batches ------------------------------------------------------
    async def _cut_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._fatal is None:
            await self._arrived.wait()
            # Wait until the queue stops growing (bounded, so a steady trickle still goes out).
            deadline = loop.time() + 10 * self.window
            while len(self._queue) < self.max_requests and loop.time() < deadline:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), self.window)
                except TimeoutError:
                    break
            self._arrived.clear()
            while self._queue and self._fatal is None:
                await self._submit(self._take_batch())

    def _take_batch(self) -> list[tuple[str, str, bytes]]:
        lines, size = [], 0
        while self._queue and len(lines) < self.max_requests:
            key, digest, body = self._queue[0]
            line = request_line(key, body)
            if lines and size + len(line) > MAX_BYTES:
                break  # the rest goes out as the next batch
            self._queue.popleft()
            lines.append((key, digest, line))
            size += len(line)
        return lines

    async def _submit(self, lines: list[tuple[str, str, bytes]]) -> None:
        try:
            upload = await self._client().files.create(
                file=("synth-batch.jsonl", b"".join(line for _, _, line in lines), "application/jsonl"),
                purpose="batch",
            )
        except openai.OpenAIError as err:
            self._fail_all(self._control_error(err, "uploading the batch request file"))
            return
        self.any_success = True
        self.counters.requests += len(lines)
        self.batch_sizes.append(len(lines))
        self.state.records.append(
            BatchRecord(input_file_id=upload.id, requests={key: digest for key, digest, _ in lines})
        )
        self.state.save()  # before create: from here on a crash never uploads these keys again
        log.info("batch of %d requests uploaded as %s", len(lines), upload.id)
        self._fresh.add(len(self.state.records) - 1)
        self._collect(len(self.state.records) - 1)

    def _client(self) -> openai.AsyncOpenAI:
        # Until one control call succeeds, no retries: a wrong URL or key should fail in seconds.
        return self.client if self.any_success else self.client.with_options(max_retries=0)

    # ---- one batch: create (if needed), poll, download, answer -------------------------------
    def _collect(self, index: int) -> None:
        if index not in self._tasks:
            self._tasks[index] = asyncio.get_running_loop().create_task(self._run_batch(index))
            self._tasks[index].add_done_callback(self._check_task)

    def _check_task(self, task: asyncio.Task) -> None:
        """A bug or a full disk in a worker must end the run, not leave its callers waiting forever."""
        if not task.cancelled() and (err := task.exception()) is not None:
            self._fail_all(BackendError(f"openai-batch backend failed: {type(err).__name__}: {err}"))

    async def _run_batch(self, index: int) -> None:
        record = self.state.records[index]
        try:
            if record.id is None:
                await self._create(record, look_first=index not in self._fresh)
            batch = await self._poll(record)
            results = await self._download(batch)
        except BackendError as err:
            self._fail_all(err)
            return
        except openai.OpenAIError as err:
            self._fail_all(self._control_error(err, f"collecting batch {record.id or record.input_file_id}"))
            return
        record.status = batch.status
        self.state.save()
        self._collected.add(index)
        if batch.status == "failed":
            # Nothing of a failed batch ran. Before any batch worked this is a setup error (model
            # without batch support, enqueued-token limit): stop with the server's reason.
            if not self.any_batch_done:
                self._fail_all(BackendError(f"{self.where}: batch {batch.id} failed: {_batch_errors(batch)}"))
                return
            log.warning("batch %s failed: %s", batch.id, _batch_errors(batch))
        self.any_batch_done = self.any_batch_done or any(isinstance(r, Completion) for r in results.values())
        missing = "batch_missing_result" if batch.status == "completed" else f"batch_{batch.status}"
        for key, digest in record.requests.items():
            self._answer(key, digest, results.get(key, missing))

    async def _create(self, record: BatchRecord, look_first: bool) -> None:
        adopted = None
        if look_first:  # an earlier process may have crashed between create and saving the id
            page = await self._client().batches.list(limit=100)
            self.any_success = True
            adopted = next((b for b in page.data if b.input_file_id == record.input_file_id), None)
        batch = adopted or await self._client().batches.create(
            input_file_id=record.input_file_id,
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"created_by": "synthembed"},
        )
        record.id, record.status = batch.id, batch.status
        self.state.save()
        how = "found again" if adopted else "submitted"
        log.info("batch %s %s (%d requests)", batch.id, how, len(record.requests))

    async def _poll(self, record: BatchRecord):
        wait, failures, seen = self.poll_s, 0, None
        while True:
            try:
                batch = await self._client().batches.retrieve(record.id)
                self.any_success, failures = True, 0
            except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as err:
                if not self.any_success:
                    raise
                failures += 1  # the SDK has retried already; the batch runs on meanwhile
                if failures >= LOST_CONTACT_POLLS:
                    raise BackendError(
                        f"lost contact with {self.where} while waiting for batch {record.id}: "
                        "rerun to pick it up again"
                    ) from err
                await asyncio.sleep(wait)
                continue
            counts = batch.request_counts
            now = (batch.status, counts.completed if counts else 0, counts.failed if counts else 0)
            if now != seen:
                total = counts.total if counts else len(record.requests)
                log.info("batch %s: %s, %d/%d done, %d failed", batch.id, now[0], now[1], total, now[2])
                seen = now
            if batch.status in TERMINAL:
                return batch
            record.status = batch.status  # saved once the batch ends: only that matters to a rerun
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, 4 * self.poll_s)  # a batch that runs long needs no frequent checks

    async def _download(self, batch) -> dict[str, Completion | str]:
        results: dict[str, Completion | str] = {}
        for file_id in (batch.error_file_id, batch.output_file_id):  # an output line wins over an error
            if not file_id:
                continue
            content = await self.client.files.content(file_id)
            for n, raw in enumerate(content.text.splitlines(), 1):
                try:
                    line = json.loads(raw) if raw.strip() else None
                except ValueError:
                    log.warning("batch %s: line %d of %s is not JSON; skipped", batch.id, n, file_id)
                    continue
                if isinstance(line, dict):
                    results[str(line.get("custom_id"))] = parse_result_line(line)
        return results

    # ---- answering ---------------------------------------------------------------------------
    def _answer(self, key: str, digest: str, result: Completion | str) -> None:
        waiters = [f for f in self._waiting.pop(key, []) if not f.done()]
        if not waiters:
            self._results[key] = (digest, result)  # a resumed batch answered a call not made yet
        for fut in waiters:
            fut.set_result(result)

    def _fail_all(self, err: BackendError) -> None:
        self._fatal = err
        for futures in self._waiting.values():
            for fut in futures:
                if not fut.done():
                    fut.set_exception(err)
        self._waiting.clear()

    def _control_error(self, err: openai.OpenAIError, what: str) -> BackendError:
        if isinstance(err, openai.AuthenticationError):
            return BackendError(f"{self.where} rejected the API key (401 Unauthorized): check OPENAI_API_KEY")
        if isinstance(err, openai.PermissionDeniedError):
            return BackendError(f"{self.where} refused access (403) while {what}")
        if isinstance(err, openai.APIConnectionError):
            return BackendError(f"cannot reach {self.where} while {what}: {connection_reason(err)}")
        if isinstance(err, openai.APIStatusError):
            return BackendError(f"{self.where}: {what} failed ({err.status_code}): {short_error(err)}")
        return BackendError(f"{self.where}: {what} failed: {type(err).__name__}")

    async def close(self) -> None:
        tasks = [t for t in [self._cutter, *self._tasks.values()] if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        running = [
            r.id or r.input_file_id
            for i, r in enumerate(self.state.records)
            if i not in self._collected and r.status not in TERMINAL
        ]
        if running:
            log.info(
                "%d batch(es) still run on the server (%s, ...): rerun to collect them",
                len(running),
                running[0],
            )
        await self.client.close()


def _batch_errors(batch) -> str:
    errors = (batch.errors.data or []) if batch.errors else []
    text = "; ".join(f"{e.code}: {e.message}" if e.code else str(e.message) for e in errors[:3])
    return text.splitlines()[0][:300] if text else "no reason given"


def _deliver(result: Completion | str) -> Completion:
    if isinstance(result, str):
        raise RequestFailed(result)
    return result
