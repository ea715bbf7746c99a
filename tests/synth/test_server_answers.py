"""Reading servers' error texts and /v1/models answers, on the texts real servers send."""

import pytest

from synth.backends.base import fit_max_tokens
from synth.backends.server_answers import (
    MAX_LINE,
    Refusal,
    concerns_response_format,
    context_from_models,
    context_from_props,
    context_overflow,
    is_unsupported,
    one_line,
)

# llama-cpp-python 0.3.36 answering response_format json_schema (the body's "error" object)
LLAMA_CPP_PYTHON_500 = {
    "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': "
    "\"'text' or 'json_object'\"}}\n\n  File \"/venv/lib/python3.11/site-packages/llama_cpp/server/app.py\", "
    "line 376, in create_chat_completion\n    POST /v1/chat/completions",
    "type": "internal_server_error",
    "param": None,
    "code": None,
}


def test_llama_cpp_python_refusal_is_unsupported_about_response_format_in_one_line():
    refusal = Refusal.of(500, LLAMA_CPP_PYTHON_500)
    assert is_unsupported(refusal) and concerns_response_format(refusal)
    assert context_overflow(refusal) is None
    assert refusal.line == "response_format.type: Input should be 'text' or 'json_object'"


@pytest.mark.parametrize(
    ("status", "body", "about_format"),
    [
        (400, {"message": "Unrecognized request argument supplied: top_k", "param": None}, False),  # OpenAI
        (
            400,
            {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
                "this model.",
                "param": "response_format",
                "code": None,
            },
            True,
        ),  # OpenAI, older models
        (
            400,
            {
                "message": "'messages' must contain the word 'json' in some form, to use 'response_format' of "
                "type 'json_object'.",
                "param": "messages",
            },
            True,
        ),  # OpenAI json_object without "JSON"
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "response_format", "type"],
                        "msg": "Input should be 'text'",
                        "type": "literal_error",
                    }
                ]
            },
            True,
        ),  # FastAPI's own 422
        (
            400,
            {
                "message": "1 validation error for ChatCompletionRequest\nguided_json\n  Extra inputs are not "
                "permitted",
                "code": 400,
            },
            True,
        ),  # pydantic, extra="forbid"
        (501, "Not Implemented", False),
    ],
)
def test_refusals_of_the_request_itself(status, body, about_format):
    refusal = Refusal.of(status, body)
    assert is_unsupported(refusal) and concerns_response_format(refusal) == about_format
    assert "\n" not in refusal.line


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"message": "internal error", "type": "server_error"}),  # the fake's transient 500
        (500, "Internal Server Error"),
        (502, {"message": "Bad gateway: upstream does not support keep-alive"}),  # not a refusal: 502
        (
            400,
            {"message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy."},
        ),
        (500, None),
    ],
)
def test_transient_or_per_call_errors_are_not_refusals(status, body):
    assert not is_unsupported(Refusal.of(status, body))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        # vLLM, older wording: prompt and completion named
        (
            400,
            {
                "message": "This model's maximum context length is 4096 tokens. However, you requested 7600 "
                "tokens (88 in the messages, 7512 in the completion). Please reduce the length of the messages "
                "or completion.",
                "type": "BadRequestError",
                "code": 400,
            },
            (4096, 88, None),
        ),
        # vLLM, newer wording
        (
            400,
            {
                "message": "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
                "context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            (4096, 2778, None),
        ),
        # llama-cpp-python, when its error handler could not parse the body: raw ValueError text, 500
        (500, {"message": "Requested tokens (4200) exceed context window of 4096"}, (4096, 4200, None)),
        # llama-server: prompt alone too long, numbers in fields too
        (
            400,
            {
                "code": 400,
                "message": "request (4476 tokens) exceeds the available context size (4096 tokens)",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 4476,
                "n_ctx": 4096,
            },
            (4096, 4476, None),
        ),
        # OpenAI's output limit
        (
            400,
            {
                "message": "max_tokens is too large: 20000. This model supports at most 16384 completion tokens, "
                "whereas you provided 20000.",
                "param": "max_tokens",
                "code": "invalid_value",
            },
            (None, None, 16384),
        ),
    ],
)
def test_context_overflow_texts(status, body, expected):
    overflow = context_overflow(Refusal.of(status, body))
    assert overflow is not None
    assert (overflow.context, overflow.prompt_tokens, overflow.output_limit) == expected


def test_one_line_drops_tracebacks_redacts_keys_and_truncates():
    text = 'bad key sk-abcdefghijklmnopqrstuvwxyz012345\nTraceback (most recent call last):\n  File "x.py"'
    assert one_line(text) == "bad key ***"
    long = one_line("word " * 200)
    assert len(long) == MAX_LINE and long.endswith("...")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"data": [{"id": "m", "max_model_len": 4096}]}, (4096, "max_model_len")),  # vLLM
        ({"data": [{"id": "m", "meta": {"n_ctx_train": 8192, "n_vocab": 3}}]}, (8192, "meta.n_ctx_train")),
        ({"data": [{"id": "m", "meta": {"n_ctx": 2048, "n_ctx_train": 8192}}]}, (2048, "meta.n_ctx")),
        ({"data": [{"id": "m", "context_length": 131072}]}, (131072, "context_length")),  # OpenRouter
        ({"data": [{"id": "/m.gguf", "object": "model", "owned_by": "me", "permissions": []}]}, None),
        (
            {"data": [{"id": "gpt-4o-mini", "object": "model"}, {"id": "m", "object": "model"}]},
            None,
        ),  # OpenAI
        (
            {"data": [{"id": "other", "max_model_len": 1}, {"id": "m", "max_model_len": 2}]},
            (2, "max_model_len"),
        ),
        ({"data": [{"id": "a", "max_model_len": 1}, {"id": "b", "max_model_len": 2}]}, None),  # whose?
        ({"data": [{"id": "m", "max_model_len": True}]}, None),
        ({"error": "nope"}, None),
        ([1, 2], None),
    ],
)
def test_context_from_models(payload, expected):
    assert context_from_models(payload, "m") == expected


def test_context_from_props():
    assert context_from_props({"default_generation_settings": {"n_ctx": 4096}, "total_slots": 4}) == 4096
    assert context_from_props({"n_ctx": 1024}) == 1024
    assert context_from_props({"default_generation_settings": {}}) is None


def test_fit_max_tokens():
    assert fit_max_tokens(7512, 600, 4096) == 3464  # 4096 - 600 - 32
    assert fit_max_tokens(512, 600, 4096) == 512  # fits already
    assert fit_max_tokens(7512, 600, None) == 7512  # context unknown
    assert fit_max_tokens(7512, 5000, 4096) == 64  # never below the floor
