"""max_tokens fitted to the model's context window, over real HTTP to the fake: the length read from
/v1/models (vLLM, llama-server) or learned from an over-long answer (vLLM, llama-cpp-python, OpenAI)."""

import asyncio

import pytest

from synth.backends.base import CONTEXT_MARGIN, ChatRequest, RequestFailed
from synth.backends.openai_backend import OpenAIBackend
from synth.plan.pricing import estimate_prompt_tokens

from .conftest import API_KEY

PROMPT = 'Write a triple of passages ... "S1", "S2" and "S3" ... ' + "context " * 40
ASKED = 7512  # what the runner asked for on the server that had a 4096-token context


def ask(backend, batches, max_tokens=ASKED, prompt=PROMPT):
    async def go():
        try:
            return [
                await asyncio.gather(*(backend.complete(ChatRequest(k, prompt, max_tokens)) for k in keys))
                for keys in batches
            ]
        finally:
            await backend.close()

    return asyncio.run(go())


def capped_from_estimate(context: int, prompt: str = PROMPT) -> int:
    estimate = estimate_prompt_tokens(prompt)
    return context - (estimate + estimate // 8) - CONTEXT_MARGIN  # the estimate, an eighth, the margin


@pytest.mark.parametrize(
    ("style", "errors", "source"),
    [("vllm", "vllm", "/v1/models max_model_len"), ("llama.cpp", "llama.cpp", "/props n_ctx")],
)
def test_context_read_from_v1_models_caps_max_tokens(fake, style, errors, source):
    server = fake(context_length=4096, models_style=style, context_errors=errors)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    ask(backend, [[f"g:{i}:0" for i in range(6)], ["g:6:0"]])
    assert server.models_asked == 1  # once, though six calls started together
    assert {r["max_tokens"] for r in server.requests} == {capped_from_estimate(4096)}
    assert all(r["status"] == 200 for r in server.requests) and len(server.requests) == 7
    c = backend.counters
    assert (c.context_length, c.context_source, c.capped, c.capped_largest_ask) == (4096, source, 7, ASKED)
    assert (c.requests, c.context_resends, c.retries) == (7, 0, {})
    assert backend.context_length == 4096


def test_small_asks_are_not_capped(fake):
    server = fake(context_length=4096, models_style="vllm")
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    ask(backend, [["g:0:0"]], max_tokens=512)
    assert server.requests[0]["max_tokens"] == 512 and backend.counters.capped == 0


def test_llama_cpp_python_reports_nothing_and_nothing_is_capped(fake):
    # llama-cpp-python shortens an over-long max_tokens itself: nothing to learn, nothing refused
    server = fake(context_length=4096, models_style="llama-cpp-python", context_errors="llama-cpp-python")
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    ask(backend, [["g:0:0"]])
    assert server.models_asked == 1 and [r["max_tokens"] for r in server.requests] == [ASKED]
    assert (backend.counters.context_length, backend.counters.capped) == (None, 0)


def test_overflow_answer_teaches_the_context_and_the_call_succeeds(fake):
    server = fake(context_length=4096, context_errors="vllm")  # /v1/models says nothing
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    (first,), (second,) = ask(backend, [["g:0:0"], ["g:1:0"]])
    assert first.text and second.text
    n = server.prompt_tokens(PROMPT)  # the server's count, as its answer said
    assert [(r["status"], r["max_tokens"]) for r in server.requests] == [
        (400, ASKED),
        (200, 4096 - n - CONTEXT_MARGIN),  # re-sent capped by the server's own count
        (200, capped_from_estimate(4096)),  # later calls go out capped at once
    ]
    c = backend.counters
    assert (c.context_length, c.context_source, c.context_resends, c.capped) == (4096, "error answer", 1, 2)
    assert c.retries == {} and c.requests == 3


def test_output_limit_answer_caps_later_calls(fake):
    server = fake(output_limit=4096)  # OpenAI: "This model supports at most 4096 completion tokens"
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    ask(backend, [["g:0:0"], ["g:1:0"]])
    assert [(r["status"], r["max_tokens"]) for r in server.requests] == [
        (400, ASKED),
        (200, 4096),
        (200, 4096),
    ]
    assert backend.counters.context_length is None and backend.counters.capped == 2


@pytest.mark.parametrize("errors", ["vllm", "llama.cpp", "llama-cpp-python"])
def test_prompt_longer_than_the_context_fails_that_call_only(fake, errors):
    server = fake(context_length=64, context_errors=errors)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    with pytest.raises(RequestFailed, match="context_overflow"):
        ask(backend, [["g:0:0"]], max_tokens=256)
    assert len(server.requests) == 1  # capping could not help, so it was not tried
    c = backend.counters
    assert (c.context_overflows, c.context_length, c.retries) == (1, 64, {})


def test_answer_cut_at_the_context_end_teaches_the_context(fake):
    # llama-cpp-python shortens max_tokens to what the context leaves and stops there ("length")
    server = fake(context_length=256, models_style="llama-cpp-python", context_errors="llama-cpp-python")
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5)
    (first,), (later,) = ask(backend, [["g:0:0"], ["g:1:0"]])
    assert first.finish_reason == "length" and first.prompt_tokens + first.completion_tokens == 256
    assert later.completion_tokens == capped_from_estimate(256)  # cut at max_tokens now, as asked
    c = backend.counters
    assert (c.context_length, c.context_source) == (256, "answer cut at the context's end")
    assert [r["max_tokens"] for r in server.requests] == [ASKED, capped_from_estimate(256)]
    assert c.capped == 1 and c.requests == 2
