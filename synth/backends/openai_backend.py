"""`openai` backend: the async OpenAI client against api.openai.com or any compatible server.

Retries are ours, not the SDK's (`max_retries=0`), so each retry is counted and Retry-After is
honoured exactly: transient failures (429, 408, 409, 5xx, timeouts) back off with full-jitter
exponential waits (tenacity), or for at least as long as the server's Retry-After asks. Until the
first call succeeds, a connection failure is fatal at once: a wrong --base-url should fail in
seconds, not after minutes of backoff.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from synth.backends.base import BackendCounters, BackendError, ChatRequest, Completion, RequestFailed
from synth.secrets import redact_url

# Reasoning models reject `max_tokens` and take `max_completion_tokens` instead.
COMPLETION_TOKENS_PREFIXES = ("o1", "o3", "o4", "gpt-5")


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
        guided: bool = False,
        concurrency: int = 64,
    ):
        if not api_key and not base_url:
            raise BackendError("OPENAI_API_KEY is not set: export it, or pass --base-url for a local server")
        self.model = model
        self.where = redact_url(base_url) if base_url else "api.openai.com"
        # Keep a warm connection per concurrent call: the SDK's default keeps 100 alive, so at higher
        # concurrency every extra call would open (and the server accept) a new TCP connection.
        limits_type = type(openai.DEFAULT_CONNECTION_LIMITS)  # httpx or httpx2, whichever the SDK uses
        keep = max(100, concurrency)
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "EMPTY",  # local servers (vllm serve) accept any key
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(
                limits=limits_type(max_connections=max(1000, keep), max_keepalive_connections=keep)
            ),
        )
        self.max_retries = max_retries
        self.temperature = temperature
        self.top_p = top_p
        self.guided = guided
        # One request per 60/rpm seconds, no burst: servers enforce their minute limits in finer slices.
        self.rpm = AsyncLimiter(1, 60 / rpm) if rpm else None
        self.tpm = AsyncLimiter(tpm, 60) if tpm else None
        self.tokens_param = (
            "max_completion_tokens"
            if model.rsplit("/", 1)[-1].startswith(COMPLETION_TOKENS_PREFIXES)
            else "max_tokens"
        )
        self.counters = BackendCounters()
        self._slots = asyncio.Semaphore(concurrency)
        self.any_success = False
        self._wait = _WaitRetryAfterOrJitter(wait_random_exponential(multiplier=0.5, max=60), max_wait=300)

    def _transient(self, err: BaseException) -> bool:
        if isinstance(err, openai.APITimeoutError):
            return True
        if isinstance(err, openai.APIConnectionError):
            return self.any_success  # before any success it means a wrong URL or a server that is down
        if isinstance(err, openai.APIStatusError):
            return err.status_code in (408, 409, 429) or err.status_code >= 500
        return False

    async def complete(self, request: ChatRequest) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._transient),
            wait=self._wait,
            stop=stop_after_attempt(self.max_retries + 1),
            before_sleep=lambda state: self.counters.retried(_cause(state.outcome.exception())),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._create(request)
        except openai.AuthenticationError:
            raise BackendError(
                f"{self.where} rejected the API key (401 Unauthorized): check OPENAI_API_KEY"
            ) from None
        except openai.PermissionDeniedError:
            raise BackendError(f"{self.where} refused access to model {self.model!r} (403)") from None
        except openai.NotFoundError:
            raise BackendError(f"{self.where}: model {self.model!r} not found (404); check --model") from None
        except openai.APITimeoutError:
            raise RequestFailed("timeout") from None
        except openai.APIConnectionError as err:
            if not self.any_success:
                raise BackendError(f"cannot reach {self.where}: {connection_reason(err)}") from None
            raise RequestFailed("connection") from None
        except openai.APIStatusError as err:
            if err.status_code in (400, 422) and not self.any_success:
                raise BackendError(
                    f"{self.where} rejected the request ({err.status_code}): {short_error(err)}"
                ) from None
            raise RequestFailed(f"http_{err.status_code}") from None
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _create(self, request: ChatRequest) -> Completion:
        async with self._slots:  # held while the request is on the wire, released while backing off
            return await self._send(request)

    async def _send(self, request: ChatRequest) -> Completion:
        if self.rpm is not None:
            await self.rpm.acquire()
        if self.tpm is not None:
            await self.tpm.acquire(min(request.estimated_tokens or 1, self.tpm.max_rate))
        extra = {}
        if self.guided and request.json_schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "example", "schema": request.json_schema, "strict": True},
            }
        self.counters.requests += 1
        # The raw response skips building the SDK's pydantic ChatCompletion: we need four fields,
        # and that model construction was a third of the client's CPU per call.
        raw = await self.client.chat.completions.with_raw_response.create(
            model=self.model,
            messages=[{"role": "user", "content": request.prompt}],
            temperature=self.temperature,
            top_p=self.top_p,
            extra_headers={"X-Synthembed-Call": request.key},  # lets server logs tie calls to the journal
            **{self.tokens_param: request.max_tokens},
            **extra,
        )
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
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise RequestFailed(f"bad_response: {type(err).__name__}") from None

    async def close(self) -> None:
        await self.client.close()


def connection_reason(err: BaseException) -> str:
    cause = err.__cause__ or err.__context__
    text = str(cause or err).strip() or type(cause or err).__name__
    return text.splitlines()[0][:200]


def short_error(err: openai.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    message = body.get("message") or str(err)
    return str(message).splitlines()[0][:200]
