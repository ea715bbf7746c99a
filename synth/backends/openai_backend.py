"""`openai` backend: the async OpenAI client against api.openai.com or any compatible server.

Retries are ours, not the SDK's (`max_retries=0`), so each retry is counted and Retry-After is
honoured exactly: transient failures (429, 408, 409, 5xx, timeouts, dropped connections) back off
with full-jitter exponential waits (tenacity), or for at least as long as the server's Retry-After
asks. Until the first call succeeds, a connection that cannot be made is fatal at once: a wrong
--base-url should fail in seconds, not after minutes of backoff.

HTTP goes through aiohttp under the SDK (`DefaultAioHttpClient`), which costs about half the CPU per
call of the SDK's default httpx pool at a few hundred calls in flight.

A refusal of the request itself (a field the server does not take: see `server_answers`) is never
retried. Where it names response_format and --guided is auto, every call steps down one mode,
json_schema -> json_object with llama-cpp-python's `schema` extension -> json_object -> no
response_format, and the refused request goes out again in the new mode; any other such refusal
stops the run with the server's message in one line.

max_tokens is capped to the model's context window where the server reports one in `/v1/models`
(read once, before the first call), or once an over-long answer has named it; that request then
goes out again capped.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import socket
import time
import urllib.parse

import aiohttp
import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from synth.backends.base import (
    MIN_COMPLETION_TOKENS,
    BackendCounters,
    BackendError,
    ChatRequest,
    Completion,
    RequestFailed,
    cached_tokens,
    fit_max_tokens,
    prompt_tokens_bound,
)
from synth.backends.server_answers import (
    Overflow,
    Refusal,
    concerns_response_format,
    context_from_models,
    context_from_props,
    context_overflow,
    is_unsupported,
    one_line,
)
from synth.run.secrets import redact_url

log = logging.getLogger("synth.openai")

# Reasoning models reject `max_tokens` and take `max_completion_tokens` instead.
COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")
GUIDED = ("auto", "on", "off")
# What --guided auto steps down through, one refusal at a time; "off" sends no response_format.
GUIDED_MODES = ("json_schema", "json_object_schema", "json_object", "off")
MAX_RESENDS = 6  # steps down plus learned caps for one call: more means the server's answers loop
PROBE_TIMEOUT = 10.0  # seconds for the /v1/models and /props look-ups


def retry_after_seconds(err: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    response = getattr(err, "response", None)
    if response is None:
        return None
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass  # malformed: fall back to Retry-After below
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _WaitRetryAfterOrJitter(wait_base):
    def __init__(self, fallback: wait_base, max_wait: float):
        self.fallback = fallback
        self.max_wait = max_wait

    def __call__(self, retry_state) -> float:
        jitter = self.fallback(retry_state)
        asked = retry_after_seconds(retry_state.outcome.exception())
        return min(self.max_wait, asked + 0.1 * jitter) if asked is not None else jitter


def _cause(err: BaseException) -> str:
    if isinstance(err, openai.APITimeoutError):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection"
    if isinstance(err, openai.APIStatusError):
        return str(err.status_code)
    return type(err).__name__


class OpenAIBackend:
    name = "openai"
    string_lengths = False

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 8,
        temperature: float = 1.0,
        top_p: float = 1.0,
        rpm: int | None = None,
        tpm: int | None = None,
        guided: str = "off",
        concurrency: int = 64,
    ):
        if not api_key and not base_url:
            raise BackendError("OPENAI_API_KEY is not set: export it, or pass --base-url for a local server")
        if guided not in GUIDED:
            raise ValueError(f"--guided: {guided!r} is not one of {', '.join(GUIDED)}")
        self.model = model
        self.where = redact_url(base_url) if base_url else "api.openai.com"
        # aiohttp's connection pool under the SDK: httpx's probes every idle connection's socket each
        # time a request starts or ends, which at 256 calls in flight was a third of the client's CPU
        # (bench/generate_throughput.py). A warm connection per concurrent call: no reconnects.
        limits_type = type(openai.DEFAULT_CONNECTION_LIMITS)  # httpx or httpx2, whichever the SDK uses
        keep = max(100, concurrency)
        base_url, basic_auth = _split_credentials(base_url)
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "EMPTY",  # local servers (vllm serve) accept any key
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            default_headers={"Authorization": basic_auth} if basic_auth else None,
            http_client=openai.DefaultAioHttpClient(
                limits=limits_type(max_connections=max(1000, keep), max_keepalive_connections=keep)
            ),
        )
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.top_p = top_p
        self.guided = guided
        # One mode for all calls: a step down by one call applies to every later send of every call.
        self.mode = "off" if guided == "off" else "json_schema"
        # One request per 60/rpm seconds, no burst: servers enforce their minute limits in finer slices.
        self.rpm = AsyncLimiter(1, 60 / rpm) if rpm else None
        self.tpm = AsyncLimiter(tpm, 60) if tpm else None
        self.tokens_param = (
            "max_completion_tokens"
            if model.rsplit("/", 1)[-1].startswith(COMPLETION_TOKENS_PREFIXES)
            else "max_tokens"
        )
        self.counters = BackendCounters(guided_mode=self.mode)
        self.output_limit: int | None = None  # most completion tokens the model may produce, once told
        self._probed = False
        self._probe_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)
        self.any_success = False
        self._wait = _WaitRetryAfterOrJitter(wait_random_exponential(multiplier=0.5, max=60), max_wait=300)

    @property
    def context_length(self) -> int | None:
        return self.counters.context_length

    def _transient(self, err: BaseException) -> bool:
        if isinstance(err, openai.APITimeoutError):
            return True
        if isinstance(err, openai.APIConnectionError):
            # A connection never made, before any success: a wrong URL or a server that is down. One
            # the server dropped is worth another try whenever it happens.
            return self.any_success or not _never_connected(err)
        if isinstance(err, openai.APIStatusError):
            if err.status_code in (408, 409, 429):
                return True
            if err.status_code < 500:
                return False
            refusal = Refusal.of(err.status_code, err.body)
            return not is_unsupported(refusal) and context_overflow(refusal) is None
        return False

    async def complete(self, request: ChatRequest) -> Completion:
        if not self._probed:
            await self._probe_context()
        prompt_tokens = None  # as the server counted them, once an over-long answer said
        capped = False
        for _ in range(MAX_RESENDS + 1):
            mode = self.mode if request.json_schema is not None else "off"
            max_tokens = self._fit(request, prompt_tokens)
            if max_tokens < request.max_tokens and not capped:
                capped = True
                self.counters.cap(request.max_tokens)
            try:
                completion = await self._with_retries(request, mode, max_tokens)
                if completion.finish_reason == "length" and 0 < completion.completion_tokens < max_tokens:
                    self._cut_short(completion)
                return completion
            except openai.APIStatusError as err:
                refusal = Refusal.of(err.status_code, err.body)
                if (overflow := context_overflow(refusal)) is not None:
                    prompt_tokens = self._learn(overflow, refusal)
                    if not self._can_fit(request, prompt_tokens, max_tokens):
                        self.counters.context_overflows += 1
                        raise RequestFailed("context_overflow") from None
                    self.counters.context_resends += 1
                    continue
                if is_unsupported(refusal):
                    if mode != "off" and concerns_response_format(refusal):
                        self._step_down(mode, refusal)
                        self.counters.guided_resends += 1
                        continue
                    raise BackendError(
                        f"{self.where} cannot serve this request ({err.status_code}): {refusal.line}"
                    ) from None
                raise self._final(err) from None
            except openai.OpenAIError as err:
                raise self._final(err) from None
        raise RequestFailed("too_many_resends")

    async def _with_retries(self, request: ChatRequest, mode: str, max_tokens: int) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._transient),
            wait=self._wait,
            stop=stop_after_attempt(self.max_retries + 1),
            before_sleep=lambda state: self.counters.retried(_cause(state.outcome.exception())),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with self._slots:  # held while the request is on the wire, not while backing off
                    return await self._send(request, mode, max_tokens)
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def _final(self, err: openai.OpenAIError) -> Exception:
        """The error one call ends with once retries are spent: BackendError stops the run."""
        if isinstance(err, openai.AuthenticationError):
            return BackendError(f"{self.where} rejected the API key (401 Unauthorized): check OPENAI_API_KEY")
        if isinstance(err, openai.PermissionDeniedError):
            return BackendError(f"{self.where} refused access to model {self.model!r} (403)")
        if isinstance(err, openai.NotFoundError):
            return BackendError(f"{self.where}: model {self.model!r} not found (404); check --model")
        if isinstance(err, openai.APITimeoutError):
            return RequestFailed("timeout")
        if isinstance(err, openai.APIConnectionError):
            if not self.any_success and _never_connected(err):
                return BackendError(f"cannot reach {self.where}: {connection_reason(err)}")
            return RequestFailed("connection")
        if isinstance(err, openai.APIStatusError):
            if err.status_code in (400, 422) and not self.any_success:
                line = Refusal.of(err.status_code, err.body).line
                return BackendError(f"{self.where} rejected the request ({err.status_code}): {line}")
            return RequestFailed(f"http_{err.status_code}")
        return RequestFailed(type(err).__name__)

    def _step_down(self, mode: str, refusal: Refusal) -> None:
        """The server refused `mode`'s response_format: with --guided on that ends the run; with auto
        every call moves to the next mode (once, however many calls were refused in `mode`)."""
        if self.guided == "on":
            raise BackendError(
                f"--guided on: {self.where} refused response_format json_schema ({refusal.status}): "
                f"{refusal.line}; --guided auto falls back to json_object or plain prompting"
            )
        if self.mode != mode:
            return  # another call already stepped down from `mode`: this one just goes out again
        self.mode = GUIDED_MODES[GUIDED_MODES.index(mode) + 1]
        self.counters.guided_mode = self.mode
        self.counters.guided_fallbacks.append(f"{mode} -> {self.mode}: {refusal.line}")
        log.warning(
            "%s does not take response_format %s (HTTP %d: %s); now %s",
            self.where,
            _describe(mode),
            refusal.status,
            refusal.line,
            _describe(self.mode),
        )

    # ---- context window --------------------------------------------------------------------------
    def _fit(self, request: ChatRequest, prompt_tokens: int | None) -> int:
        if prompt_tokens is None:  # the server's count where it told us, else our estimate
            prompt_tokens = prompt_tokens_bound(request.prompt)
        max_tokens = fit_max_tokens(request.max_tokens, prompt_tokens, self.counters.context_length)
        return min(max_tokens, self.output_limit) if self.output_limit else max_tokens

    def _can_fit(self, request: ChatRequest, prompt_tokens: int | None, sent: int) -> bool:
        """Whether a resend with a lower max_tokens can fit where `sent` did not: not when the
        prompt alone (nearly) fills the context, nor when the cap would not go lower."""
        context = self.counters.context_length
        if (
            prompt_tokens is not None
            and context is not None
            and prompt_tokens + MIN_COMPLETION_TOKENS > context
        ):
            return False
        return self._fit(request, prompt_tokens) < sent

    def _learn(self, overflow: Overflow, refusal: Refusal) -> int | None:
        """Take the limits an over-long answer named; the prompt's token count, where it said."""
        known = self.counters.context_length
        if overflow.context is not None and (known is None or overflow.context < known):
            self.counters.context_length = overflow.context
            self.counters.context_source = "error answer"
            log.warning(
                "%s: the model's context is %d tokens (HTTP %d: %s); max_tokens is capped to fit from now on",
                self.where,
                overflow.context,
                refusal.status,
                refusal.line,
            )
        if overflow.output_limit is not None and self.output_limit != overflow.output_limit:
            self.output_limit = overflow.output_limit
            log.warning(
                "%s: the model produces at most %d tokens per answer; max_tokens is capped to that",
                self.where,
                overflow.output_limit,
            )
        return overflow.prompt_tokens

    def _cut_short(self, completion: Completion) -> None:
        """An answer cut for length before max_tokens ran out met the context's end (llama-cpp-python
        shortens max_tokens to the context without saying so): the context is what it used up."""
        used = completion.prompt_tokens + completion.completion_tokens
        known = self.counters.context_length
        if completion.prompt_tokens > 0 and (known is None or used < known):
            self.counters.context_length = used
            self.counters.context_source = "answer cut at the context's end"
            log.warning(
                "%s: an answer stopped at %d tokens, before max_tokens: the model's context is %d tokens; "
                "max_tokens is capped to fit from now on",
                self.where,
                completion.completion_tokens,
                used,
            )

    async def _probe_context(self) -> None:
        """Read the context length from `/v1/models` (and llama-server's `/props`) once, before the
        first call. api.openai.com reports none, so it is not asked; a failed look-up just leaves the
        length unknown (an over-long answer teaches it later)."""
        async with self._probe_lock:  # the other first calls wait here, so none goes out uncapped
            if self._probed or self.client.base_url.host == "api.openai.com":
                self._probed = True
                return
            try:
                found = context_from_models(await self._get_json("models"), self.model)
                if found is not None and found[1] == "meta.n_ctx_train":
                    # llama-server serves a context set by --ctx-size/--parallel, below the trained one
                    root = str(self.client.base_url).rstrip("/").removesuffix("/v1")
                    if (served := context_from_props(await self._get_json(f"{root}/props"))) is not None:
                        found = (served, "/props n_ctx")
            except (openai.OpenAIError, ValueError) as err:
                log.debug("%s: no context length from /v1/models: %s", self.where, one_line(str(err)))
                found = None
            finally:
                self._probed = True
            if found is not None:
                length, source = found
                self.counters.context_length = length
                self.counters.context_source = source if source.startswith("/") else f"/v1/models {source}"
                log.info(
                    "%s: context window %d tokens (%s)", self.where, length, self.counters.context_source
                )

    async def _get_json(self, path: str) -> object:
        raw = await self.client.get(
            path, cast_to=bytes, options={"timeout": min(self.timeout, PROBE_TIMEOUT)}
        )
        return json.loads(raw)

    # ---- one request on the wire -----------------------------------------------------------------
    async def _send(self, request: ChatRequest, mode: str, max_tokens: int) -> Completion:
        if self.rpm is not None:
            await self.rpm.acquire()
        if self.tpm is not None:
            await self.tpm.acquire(min(request.estimated_tokens or 1, self.tpm.max_rate))
        extra = {}
        if request.json_schema is not None and (
            response_format := _response_format(mode, request.json_schema)
        ):
            extra["response_format"] = response_format
        self.counters.requests += 1
        # The raw response skips building the SDK's pydantic ChatCompletion: we need four fields,
        # and that model construction was a third of the client's CPU per call.
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=[{"role": "user", "content": request.prompt}],
                temperature=self.temperature,
                top_p=self.top_p,
                extra_headers={"X-Synthembed-Call": request.key},  # ties server logs to the journal
                **{self.tokens_param: max_tokens},
                **extra,
            )
        except asyncio.CancelledError:
            self.counters.cut_off += 1  # on the wire at Ctrl-C: the server may answer, we never hear it
            raise
        except openai.APITimeoutError as err:
            if (lost := _connection_lost(err)) is not None:
                raise openai.APIConnectionError(message=str(lost), request=err.request) from lost
            raise
        self.any_success = True
        try:
            body = json.loads(raw.http_response.content)
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            return Completion(
                text=choice["message"].get("content") or "",
                finish_reason=choice.get("finish_reason") or "stop",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cached_tokens=cached_tokens(usage),
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise RequestFailed(f"bad_response: {type(err).__name__}") from None

    async def close(self) -> None:
        await self.client.close()


def _response_format(mode: str, schema: dict) -> dict | None:
    """The response_format `mode` sends: json_schema (strict) is OpenAI's and vLLM's; json_object
    with a `schema` key is llama-cpp-python's extension (a grammar from the schema); "off" sends none."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "example", "schema": schema, "strict": True}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _describe(mode: str) -> str:
    return {"json_object_schema": "json_object with a schema", "off": "none (plain prompting)"}.get(
        mode, mode
    )


def _split_credentials(base_url: str | None) -> tuple[str | None, str | None]:
    """`http://user:pw@host/v1` -> (`http://host/v1`, its basic-auth header): the URL's credentials
    replace the API key, as httpx did with them; aiohttp refuses a URL with both."""
    if not base_url:
        return base_url, None
    parts = urllib.parse.urlsplit(base_url)
    if parts.username is None and parts.password is None:
        return base_url, None
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def _causes(err: BaseException):
    """The exceptions `err` was raised from, nearest first."""
    seen = err.__cause__
    while seen is not None:
        yield seen
        seen = seen.__cause__


def _connection_lost(err: BaseException) -> BaseException | None:
    """The aiohttp error behind a "timeout" that was none: the transport the SDK ships for aiohttp
    reports a refused, reset or dropped connection as a connect timeout. Telling them apart keeps a
    wrong --base-url a one-line error at once instead of eight timed-out retries."""
    lost = (
        e
        for e in _causes(err)
        if isinstance(e, aiohttp.ClientConnectionError) and not isinstance(e, TimeoutError)
    )
    return next(lost, None)


def _never_connected(err: BaseException) -> bool:
    """Whether no connection was made (refused, no such host), as opposed to one lost mid-request."""
    never = (aiohttp.ClientConnectorError, ConnectionRefusedError, socket.gaierror)
    return any(isinstance(e, never) for e in _causes(err))


def connection_reason(err: BaseException) -> str:
    cause = err.__cause__ or err.__context__
    text = str(cause or err).strip() or type(cause or err).__name__
    return text.splitlines()[0][:200]


def short_error(err: openai.APIStatusError) -> str:
    """The server's message in one line (what the Batch backend quotes too)."""
    return Refusal.of(err.status_code, err.body).line
