"""--guided against servers that refuse some response_format types, over real HTTP to the fake.

The fake plays llama-cpp-python: a response_format type it does not take gets HTTP 500 with pydantic's
text and a traceback, which used to be retried eight times per call and never shown.
"""

import asyncio
import logging

import pytest

from synth.backends.base import BackendError, ChatRequest
from synth.backends.openai_backend import OpenAIBackend

from .conftest import API_KEY, read_stats, run_generate

PROMPT = 'Write a triple of sentences ... "S1", "S2" and "S3" ...'
SCHEMA = {"type": "object", "properties": {k: {"type": "string"} for k in ("S1", "S2", "S3")},
          "required": ["S1", "S2", "S3"], "additionalProperties": False}  # fmt: skip
LLAMA_CPP_PYTHON = ("json_object_schema", "json_object")  # what llama-cpp-python 0.3 takes


def kind(entry: dict) -> str:
    """The response_format a logged request carried, in the backend's mode names."""
    fmt = entry["response_format"]
    if fmt is None:
        return "off"
    return "json_object_schema" if fmt["type"] == "json_object" and "schema" in fmt else fmt["type"]


def run(backend, *batches):
    """Each batch of call keys goes out concurrently, one batch after the other."""

    async def go():
        try:
            return [
                await asyncio.gather(*(backend.complete(ChatRequest(k, PROMPT, 256, SCHEMA)) for k in keys))
                for keys in batches
            ]
        finally:
            await backend.close()

    return asyncio.run(go())


def test_auto_steps_down_to_json_object_with_schema_on_llama_cpp_python(fake, caplog):
    server = fake(guided_support=LLAMA_CPP_PYTHON)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")
    with caplog.at_level(logging.WARNING, logger="synth.openai"):
        (first,), later = run(backend, ["g:0:0"], [f"g:{i}:0" for i in range(1, 6)])
    assert '"S1"' in first.text and len(later) == 5
    # one refused request, not retried; every later request goes out in the mode that worked
    assert [(r["status"], kind(r)) for r in server.requests[:2]] == [
        (500, "json_schema"),
        (200, "json_object_schema"),
    ]
    assert len(server.requests) == 7 and all(kind(r) == "json_object_schema" for r in server.requests[1:])
    assert server.requests[1]["response_format"]["schema"] == SCHEMA
    c = backend.counters
    assert (c.requests, c.retries, c.guided_mode, c.guided_resends) == (7, {}, "json_object_schema", 1)
    assert c.guided_fallbacks == [
        "json_schema -> json_object_schema: response_format.type: Input should be 'text' or 'json_object'"
    ]
    (record,) = caplog.records  # logged once, in one line, with what the server said
    assert (
        "\n" not in record.getMessage() and "Input should be 'text' or 'json_object'" in record.getMessage()
    )
    assert "File" not in record.getMessage()  # the server's traceback stays out


@pytest.mark.parametrize(
    ("support", "expected"),
    [
        (("json_object",), ["json_schema", "json_object_schema", "json_object"]),  # OpenAI's older models
        ((), ["json_schema", "json_object_schema", "json_object", "off"]),  # no response_format at all
    ],
)
def test_auto_steps_down_through_every_mode_without_retrying_a_refusal(fake, support, expected):
    server = fake(guided_support=support)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")
    run(backend, ["g:0:0"], ["g:1:0", "g:2:0"])
    modes = [kind(r) for r in server.requests]
    assert modes == expected + [expected[-1]] * 2  # one request per mode, then straight to the last one
    assert [r["status"] for r in server.requests] == [500] * (len(expected) - 1) + [200] * 3
    c = backend.counters
    assert c.retries == {} and c.requests == len(server.requests) and c.guided_mode == expected[-1]
    assert [line.split(":")[0] for line in c.guided_fallbacks] == [
        f"{a} -> {b}" for a, b in zip(expected, expected[1:], strict=False)
    ]


def test_concurrent_calls_step_down_once_and_all_succeed(fake, caplog):
    server = fake(guided_support=())
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")
    with caplog.at_level(logging.WARNING, logger="synth.openai"):
        (answers,) = run(backend, [f"g:{i}:0" for i in range(12)])
    assert len(answers) == 12 and all(a.text for a in answers)
    assert len(caplog.records) == 3 and len(backend.counters.guided_fallbacks) == 3  # one per step
    by_key: dict[str, list] = {}
    for r in server.requests:
        by_key.setdefault(r["key"], []).append(r)
    for sent in by_key.values():  # each call: at most one refusal per mode, then plain prompting
        assert len(sent) <= 4 and kind(sent[-1]) == "off" and sent[-1]["status"] == 200
        assert len({kind(r) for r in sent}) == len(sent)
    assert backend.counters.requests == len(server.requests) and backend.counters.retries == {}


def test_on_fails_in_one_line_with_the_servers_words(fake):
    server = fake(guided_support=LLAMA_CPP_PYTHON)
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="on")
    with pytest.raises(BackendError) as err:
        run(backend, ["g:0:0"])
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    assert (
        "--guided on" in message
        and "response_format.type: Input should be 'text' or 'json_object'" in message
    )
    assert len(server.requests) == 1  # not retried, no fallback


def test_off_sends_no_response_format_and_schemaless_calls_never_do(fake):
    server = fake(guided_support=())
    off = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="off")
    run(off, ["g:0:0"])
    auto = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")

    async def brainstorm():
        await auto.complete(ChatRequest("b:retrieval:0:0", "Brainstorm a list of tasks", 256))
        await auto.close()

    asyncio.run(brainstorm())
    assert [(r["status"], r["response_format"]) for r in server.requests] == [(200, None), (200, None)]
    assert auto.counters.guided_mode == "json_schema" and auto.counters.guided_fallbacks == []


def test_unsupported_parameter_fails_in_one_line_without_retries(fake):
    server = fake(reject_params=("top_p",))
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")
    with pytest.raises(
        BackendError,
        match=r"cannot serve this request \(400\): Unrecognized request argument "
        r"supplied: top_p$",
    ):
        run(backend, ["g:0:0"])
    assert len(server.requests) == 1 and backend.counters.retries == {}


def test_plain_500_is_still_retried_after_a_step_down(fake):
    server = fake(guided_support=(), rate_500=1.0)  # the first request that gets through fails once
    backend = OpenAIBackend("fake", API_KEY, server.url, timeout=5, guided="auto")
    run(backend, ["g:0:0"])
    assert [(r["status"], kind(r)) for r in server.requests][-3:] == [
        (500, "json_object"),
        (500, "off"),
        (200, "off"),
    ]
    assert server.requests[-2].get("refused") is None  # the fake's "internal error", not a refusal
    assert backend.counters.retries == {"500": 1} and backend.counters.requests == 5


def test_generate_on_llama_cpp_python_falls_back_and_finishes(fake, tmp_path):
    server = fake(guided_support=LLAMA_CPP_PYTHON)
    assert run_generate(tmp_path / "run", server, num_examples=12, languages="en,de") == 0
    stats = read_stats(tmp_path / "run")
    assert stats["status"] == "complete" and stats["rows"] == 12
    refused = [r for r in server.requests if r["status"] == 500]
    assert refused and all(kind(r) == "json_schema" for r in refused)
    assert len({r["key"] for r in refused}) == len(refused)  # no call was refused twice
    answered = [r for r in server.answered if r["key"].startswith("g:")]
    assert answered and all(kind(r) == "json_object_schema" for r in answered)


def test_generate_with_guided_on_stops_with_the_servers_message(fake, tmp_path, capsys):
    server = fake(guided_support=LLAMA_CPP_PYTHON)
    with pytest.raises(SystemExit) as exit_:
        run_generate(tmp_path / "run", server, num_examples=12, languages="en,de", guided="on")
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("synth.generate: error: --guided on:") and "Input should be 'text'" in err
    assert sum(r["status"] == 500 for r in server.requests) <= 64  # refusals end the run, never retried
