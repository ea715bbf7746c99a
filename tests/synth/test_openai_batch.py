"""The openai-batch backend against a loopback stand-in of the files and batches endpoints (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openai
import pytest

import synth.run.config
from synth.backends.base import BackendError, ChatRequest, Completion, RequestFailed
from synth.backends.batch_files import BatchState
from synth.backends.openai_batch import OpenAIBatchBackend, batch_price
from synth.dataset.dataset import read_rows
from synth.plan.pricing import price_for
from synth.testing.fake_batch import FakeBatchOpenAI
from synth.testing.fake_openai import FakeLLM, Faults

from .conftest import API_KEY, REPO, generate_cmd, journal_keys, read_stats, run_generate

PROMPT = 'Write a triple of sentences ... "S1", "S2" and "S3" ...'
FAST = dict(window=0.05, poll_s=0.05)


@pytest.fixture
def server():
    """Factory: server(batch_delay=..., error_ids=..., ...) -> a started stand-in, stopped after the test."""
    started = []

    def start(**kwargs) -> FakeBatchOpenAI:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("batch_delay", 0.1)
        started.append(FakeBatchOpenAI(**kwargs).start())
        return started[-1]

    yield start
    for s in started:
        s.stop()


def backend_for(server: FakeBatchOpenAI, state: Path, **kwargs) -> OpenAIBatchBackend:
    return OpenAIBatchBackend(
        "fake", kwargs.pop("api_key", API_KEY), state, server.url, timeout=5, **{**FAST, **kwargs}
    )


def ask(backend: OpenAIBatchBackend, *rounds: list[str]) -> list:
    """Each round's keys are asked concurrently, rounds one after the other; failures are returned."""

    async def go():
        results = []
        try:
            for keys in rounds:
                results += await asyncio.gather(
                    *(backend.complete(ChatRequest(k, PROMPT, 256)) for k in keys), return_exceptions=True
                )
        finally:
            await backend.close()
        return results

    return asyncio.run(go())


def expected(key: str) -> str:
    """What the live fake answers for this call: the stand-in must give the same, by custom_id."""
    import random

    return FakeLLM(Faults()).answer(PROMPT, random.Random(key))[0]


def test_concurrent_calls_go_out_as_one_batch_and_come_back_by_custom_id(server, tmp_path):
    s = server()
    state = tmp_path / "batches.json"
    backend = backend_for(s, state)
    keys = [f"g:{i}:0" for i in range(30)]
    results = ask(backend, keys)
    assert [r.text for r in results] == [expected(k) for k in keys]  # each answer is its own key's
    assert all(r.completion_tokens > 0 and r.finish_reason == "stop" for r in results)
    assert (s.files_uploaded, s.batches_created, backend.batch_sizes) == (1, 1, [30])
    sent = s.requests[0]["body"]  # the live backend's body, line for line
    assert sent == {
        "model": "fake",
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 256,
    }
    (record,) = json.loads(state.read_text())["batches"]
    assert record["id"] == "batch_00000" and record["status"] == "completed"
    assert sorted(record["requests"]) == sorted(keys)


def test_body_follows_model_and_guided_decoding(server, tmp_path):
    s = server()
    backend = OpenAIBatchBackend("gpt-5-mini", API_KEY, tmp_path / "b.json", s.url, guided=True, **FAST)

    async def go():
        try:
            return await backend.complete(ChatRequest("g:0:0", PROMPT, 99, json_schema={"type": "object"}))
        finally:
            await backend.close()

    assert isinstance(asyncio.run(go()), Completion)
    body = s.requests[0]["body"]
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body  # reasoning models
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}


def test_max_requests_cuts_several_batches(server, tmp_path):
    s = server()
    backend = backend_for(s, tmp_path / "b.json", max_requests=4)
    results = ask(backend, [f"g:{i}:0" for i in range(10)])
    assert all(isinstance(r, Completion) for r in results)
    assert backend.batch_sizes == [4, 4, 2] and s.batches_created == 3 and max(s.submitted.values()) == 1


def test_line_errors_become_request_failed(server, tmp_path):
    s = server(error_ids={"g:1:0", "g:3:0"})
    results = ask(backend_for(s, tmp_path / "b.json"), [f"g:{i}:0" for i in range(5)])
    assert [r.reason if isinstance(r, RequestFailed) else "ok" for r in results] == [
        "ok",
        "http_400",
        "ok",
        "http_400",
        "ok",
    ]


def test_expired_batch_answers_what_ran_and_fails_the_rest(server, tmp_path):
    s = server(expire_batches={0})
    results = ask(backend_for(s, tmp_path / "b.json"), [f"g:{i}:0" for i in range(6)])
    assert [type(r).__name__ for r in results] == ["Completion"] * 3 + ["RequestFailed"] * 3
    assert {r.reason for r in results[3:]} == {"batch_expired"}


def test_failed_batch_fails_its_requests_once_batches_have_worked(server, tmp_path):
    s = server(fail_batches={1})
    results = ask(backend_for(s, tmp_path / "b.json"), ["g:0:0"], ["g:1:0", "g:2:0"])
    assert isinstance(results[0], Completion)
    assert [r.reason for r in results[1:]] == ["batch_failed", "batch_failed"]


def test_first_batch_failing_validation_stops_the_run_with_the_reason(server, tmp_path):
    s = server(fail_batches={0})
    state = tmp_path / "b.json"
    (err,) = ask(backend_for(s, state), ["g:0:0"])
    assert isinstance(err, BackendError) and "Enqueued token limit" in str(err)
    # Nothing of a failed batch ran: a rerun sends its requests again instead of reusing it.
    (again,) = ask(backend_for(s, state), ["g:0:0"])
    assert again.text == expected("g:0:0") and s.batches_created == 2


def test_cancelled_batch_fails_its_requests(server, tmp_path):
    s = server(batch_delay=5.0)
    backend = backend_for(s, tmp_path / "b.json")

    async def go():
        calls = asyncio.gather(
            *(backend.complete(ChatRequest(f"g:{i}:0", PROMPT, 64)) for i in range(3)), return_exceptions=True
        )
        while not s.batches:
            await asyncio.sleep(0.02)
        async with openai.AsyncOpenAI(api_key=API_KEY, base_url=s.url) as client:
            await client.batches.cancel(next(iter(s.batches)))  # e.g. from the dashboard
        try:
            return await calls
        finally:
            await backend.close()

    assert [r.reason for r in asyncio.run(go())] == ["batch_cancelled"] * 3


CRASHING_CLIENT = """
import asyncio, sys
from pathlib import Path
from synth.backends.base import ChatRequest
from synth.backends.openai_batch import OpenAIBatchBackend
backend = OpenAIBatchBackend("fake", sys.argv[3], Path(sys.argv[2]), sys.argv[1], window=0.05, poll_s=0.05)
async def go():
    await asyncio.gather(*(backend.complete(ChatRequest(f"g:{i}:0", sys.argv[4], 256)) for i in range(8)))
asyncio.run(go())
"""


def test_killed_after_submitting_resumes_the_same_batch(server, tmp_path):
    s = server(batch_delay=1.5)
    state = tmp_path / "batches.json"
    script = textwrap.dedent(CRASHING_CLIENT)
    proc = subprocess.Popen([sys.executable, "-c", script, s.url, str(state), API_KEY, PROMPT], cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not (state.exists() and BatchState.load(state).records[0].id) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # after submitting, before the batch is done
    finally:
        proc.wait(10)
    assert s.batches_created == 1 and s.batches["batch_00000"]["status"] != "completed"
    backend = backend_for(s, state)
    keys = [f"g:{i}:0" for i in range(8)]
    results = ask(backend, keys[:3], keys[3:])  # asked in two rounds: the rest is kept until asked
    assert [r.text for r in results] == [expected(k) for k in keys]
    assert (s.files_uploaded, s.batches_created, backend.counters.requests) == (1, 1, 0)


def test_crash_between_create_and_saving_its_id_finds_the_batch_again(server, tmp_path):
    s = server()
    state = tmp_path / "batches.json"
    ask(backend_for(s, state), ["g:0:0", "g:1:0"])
    data = json.loads(state.read_text())
    data["batches"][0].update(id=None, status="uploaded")  # what a crash right after create leaves
    state.write_text(json.dumps(data))
    results = ask(backend_for(s, state), ["g:0:0", "g:1:0"])
    assert [r.text for r in results] == [expected("g:0:0"), expected("g:1:0")]
    assert (s.files_uploaded, s.batches_created) == (1, 1)


def test_changed_request_is_sent_again_not_answered_from_the_old_batch(server, tmp_path):
    s = server()
    state = tmp_path / "batches.json"
    ask(backend_for(s, state), ["g:0:0"])
    (result,) = ask(backend_for(s, state, temperature=0.5), ["g:0:0"])
    assert isinstance(result, Completion) and s.batches_created == 2
    assert s.requests[-1]["body"]["temperature"] == 0.5


def test_bad_key_is_one_line_without_the_key(server, tmp_path):
    s = server()
    (err,) = ask(backend_for(s, tmp_path / "b.json", api_key="sk-wrong-key-123456789"), ["g:0:0"])
    assert isinstance(err, BackendError) and "401" in str(err)
    assert "sk-wrong" not in str(err) and "\n" not in str(err)
    assert s.files_uploaded == 0


def test_unreachable_server_fails_in_seconds(tmp_path):
    backend = OpenAIBatchBackend(
        "fake", API_KEY, tmp_path / "b.json", "http://127.0.0.1:9/v1", timeout=5, **FAST
    )
    start = time.monotonic()
    (err,) = ask(backend, ["g:0:0"])
    assert isinstance(err, BackendError) and "cannot reach http://127.0.0.1:9/v1" in str(err)
    assert time.monotonic() - start < 3


def test_server_gone_while_waiting_stops_with_a_rerun_hint(server, tmp_path):
    s = server(batch_delay=30.0)
    backend = backend_for(s, tmp_path / "b.json", max_retries=0)

    async def go():
        call = asyncio.ensure_future(backend.complete(ChatRequest("g:0:0", PROMPT, 64)))
        while not s.batches:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(s.stop)
        try:
            return await asyncio.gather(call, return_exceptions=True)
        finally:
            await backend.close()

    (err,) = asyncio.run(go())
    assert isinstance(err, BackendError)
    assert "lost contact" in str(err) and "batch_00000" in str(err) and "rerun" in str(err)


def test_unreadable_state_is_one_clear_line(tmp_path):
    state = tmp_path / "batches.json"
    state.write_text("{not json")
    with pytest.raises(BackendError, match="batches.json: unreadable batch state"):
        OpenAIBatchBackend("fake", API_KEY, state, "http://127.0.0.1:9/v1")


def test_batch_price_is_half_of_live():
    live = price_for("gpt-4o-mini")
    half = batch_price(live)
    assert (half.input_per_million, half.output_per_million) == (0.075, 0.30)
    assert half.cost(1_000_000, 1_000_000) == pytest.approx(live.cost(1_000_000, 1_000_000) / 2)


# ---- through synth.generate, once config/generate offer --backend openai-batch -----------------
needs_integration = pytest.mark.skipif(
    "openai-batch" not in synth.run.config.BACKENDS,
    reason="--backend openai-batch not wired into synth.run.config yet",
)
BATCH_FLAGS = dict(backend="openai-batch", batch_window=0.05, batch_poll_s=0.05)


@needs_integration
def test_generate_runs_on_batches_at_half_price_and_reruns_free(server, tmp_path):
    s = server()
    out = tmp_path / "run"
    assert run_generate(out, s, num_examples=20, **BATCH_FLAGS) == 0
    assert len(read_rows(out)) == 20
    assert s.batches_created >= 2 and all("batch" in r for r in s.requests)  # brainstorms, then examples
    assert max(s.submitted.values()) == 1  # no call went out twice
    stats = read_stats(out)
    half = batch_price(price_for("gpt-4o-mini"))  # run_generate's model
    tokens = stats["tokens"]["prompt"], stats["tokens"]["completion"]
    assert stats["cost_usd"] == pytest.approx(half.cost(*tokens), abs=1e-6)  # stats.json rounds to 6 places
    assert stats["cost_usd"] < 0.6 * price_for("gpt-4o-mini").cost(*tokens)
    created = s.batches_created
    assert run_generate(out, s, num_examples=20, **BATCH_FLAGS) == 0
    assert s.batches_created == created and len(read_rows(out)) == 20


@needs_integration
def test_generate_killed_while_a_batch_runs_resumes_it(server, tmp_path):
    s = server(batch_delay=1.5)
    out = tmp_path / "run"
    state = out / ".synth" / "batches.json"
    cmd = generate_cmd(
        out,
        s.url,
        "--backend",
        "openai-batch",
        "--num-examples",
        "12",
        "--languages",
        "en,de",
        "--batch-window",
        "0.05",
        "--batch-poll-s",
        "0.05",
    )
    env = {**os.environ, "OPENAI_API_KEY": API_KEY}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the brainstorm batch is back and an example batch is out
            if state.exists() and any(
                r.id and r.status != "completed" for r in BatchState.load(state).records[1:]
            ):
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    pending = {k for r in BatchState.load(state).records if r.status != "completed" for k in r.requests}
    assert pending and not pending & set(journal_keys(out))  # submitted, not yet journaled
    assert run_generate(out, s, num_examples=12, languages="en,de", **BATCH_FLAGS) == 0  # the rerun
    assert max(s.submitted.values()) == 1  # the rerun sent none of the submitted calls again
    assert pending <= set(journal_keys(out)) and len(read_rows(out)) == 12


@needs_integration
def test_batch_flags_are_checked():
    cfg = synth.run.config.GenerateConfig(backend="openai-batch")
    assert cfg.concurrency == 20_000  # enough waiting calls to fill large batches
    for bad, message in [
        (dict(batch_max_requests=50_001), "--batch-max-requests"),
        (dict(batch_window=0), "--batch-window"),
        (dict(rpm=100), "--rpm"),
    ]:
        with pytest.raises(ValueError, match=message):
            synth.run.config.GenerateConfig(backend="openai-batch", **bad)
