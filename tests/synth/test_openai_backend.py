"""The openai backend against a real HTTP server on loopback: retries, Retry-After, timeouts, errors."""

import asyncio
import time

import pytest

from synth.backends.base import BackendError, ChatRequest, RequestFailed
from synth.backends.openai_backend import OpenAIBackend

from .conftest import API_KEY

PROMPT = 'Write a triple of sentences ... "S1", "S2" and "S3" ...'


def ask(backend, keys, prompt=PROMPT):
    async def go():
        try:
            return await asyncio.gather(*(backend.complete(ChatRequest(k, prompt, 256)) for k in keys))
        finally:
            await backend.close()

    return asyncio.run(go())


def test_429_with_retry_after_is_honoured_and_retried(fake):
    server = fake(rate_429=1.0, retry_after=0.4)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    start = time.monotonic()
    (completion,) = ask(backend, ["g:0:0"])
    assert time.monotonic() - start >= 0.4  # waited as long as the server asked
    assert '"S1"' in completion.text and completion.completion_tokens > 0
    assert [r["status"] for r in server.requests] == [429, 200]
    assert backend.counters.retries == {"429": 1}


def test_500s_are_retried_with_backoff(fake):
    server = fake(rate_500=1.0)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    completions = ask(backend, [f"g:{i}:0" for i in range(5)])
    assert len(completions) == 5 and backend.counters.retries == {"500": 5}


def test_timeouts_are_retried(fake):
    server = fake(rate_hang=1.0, hang_s=3.0)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=0.3)
    start = time.monotonic()
    (completion,) = ask(backend, ["g:0:0"])
    assert completion.text and time.monotonic() - start < 3.0
    assert backend.counters.retries == {"timeout": 1}


def test_a_dropped_connection_is_a_connection_error_not_a_timeout(fake):
    """The SDK's aiohttp transport calls every lost connection a connect timeout; ours names it."""
    server = fake(rate_drop=1.0)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    first, second = ask(backend, ["g:0:0", "g:1:0"])
    assert first.text and second.text
    assert [r["status"] for r in server.requests].count("dropped") == 2
    assert backend.counters.retries == {"connection": 2}


def test_retries_run_out_into_request_failed(fake):
    server = fake(rate_500=1.0)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, max_retries=0)
    with pytest.raises(RequestFailed, match="http_500"):
        ask(backend, ["g:0:0"])
    assert len(server.requests) == 1


def test_bad_key_is_fatal_at_once_and_not_echoed(fake):
    server = fake()
    backend = OpenAIBackend("fake", "sk-wrong-key-123456789", server.url)
    with pytest.raises(BackendError) as err:
        ask(backend, ["g:0:0"])
    assert "401" in str(err.value) and "sk-wrong" not in str(err.value)
    assert len(server.requests) == 0  # 401 is not retried


def test_unreachable_server_fails_in_seconds():
    backend = OpenAIBackend("fake", API_KEY, "http://127.0.0.1:9/v1", timeout=5)
    start = time.monotonic()
    with pytest.raises(BackendError, match="cannot reach http://127.0.0.1:9/v1"):
        ask(backend, ["g:0:0"])
    assert time.monotonic() - start < 5


def test_missing_key_without_base_url():
    with pytest.raises(BackendError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("gpt-4o-mini", None)


def test_call_key_header_and_guided_schema_reach_the_server(fake):
    server = fake()
    backend = OpenAIBackend("fake", API_KEY, server.url, guided="on")
    schema = {"type": "object", "properties": {"S1": {"type": "string"}}, "required": ["S1"]}

    async def go():
        await backend.complete(ChatRequest("g:3:1", PROMPT, 256, json_schema=schema))
        await backend.close()

    asyncio.run(go())
    (request,) = server.requests
    assert request["key"] == "g:3:1" and request["max_tokens"] == 256
    assert request["response_format"]["json_schema"]["schema"] == schema


def test_rpm_limit_spaces_requests(fake):
    server = fake()
    backend = OpenAIBackend("fake", API_KEY, server.url, rpm=600)  # one request per 0.1 s
    start = time.monotonic()
    ask(backend, [f"g:{i}:0" for i in range(8)])
    assert time.monotonic() - start >= 0.6
    times = sorted(r["t"] for r in server.requests)
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) > 0.05
