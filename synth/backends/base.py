"""The protocol every backend implements, and the errors the runner understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from synth.plan.pricing import estimate_prompt_tokens


@dataclass(frozen=True)
class ChatRequest:
    key: str  # the journal key, e.g. "g:17:0": stable across reruns
    prompt: str
    max_tokens: int
    json_schema: dict | None = None  # for guided decoding where the backend offers it
    seed: int = 0
    estimated_tokens: int = 0  # prompt + expected completion, for --tpm accounting


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop", "length", ...
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # of the prompt tokens, those the engine took from its prompt cache


def cached_tokens(usage: dict) -> int:
    """Prompt tokens served from the engine's cache, as an OpenAI-style `usage` reports them (the
    OpenAI API, llama.cpp's server and xllamacpp: `prompt_tokens_details.cached_tokens`); 0 if absent."""
    details = usage.get("prompt_tokens_details") or {}
    try:
        return int(details.get("cached_tokens") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


CONTEXT_MARGIN = 32  # tokens kept free beside the prompt: chat template and tokenizer differences
MIN_COMPLETION_TOKENS = 64  # a capped max_tokens never goes below this; an answer needs some room


def fit_max_tokens(max_tokens: int, prompt_tokens: int, context: int | None) -> int:
    """`max_tokens` lowered so that prompt + completion fit a context of `context` tokens, keeping
    CONTEXT_MARGIN free and never going below MIN_COMPLETION_TOKENS (nor raising what was asked).

    fit_max_tokens(7512, 600, 4096) -> 3464; fit_max_tokens(512, 600, 4096) -> 512;
    fit_max_tokens(7512, 600, None) -> 7512 (context unknown)
    """
    if context is None:
        return max_tokens
    room = context - prompt_tokens - CONTEXT_MARGIN
    return min(max_tokens, max(MIN_COMPLETION_TOKENS, room))


def prompt_tokens_bound(prompt: str) -> int:
    """The prompt's tokens as estimated from its characters, plus an eighth: the estimate is rough
    (scripts other than Latin take more tokens per character), and a cap that is too high fails."""
    estimate = estimate_prompt_tokens(prompt)
    return estimate + estimate // 8


@dataclass
class BackendCounters:
    requests: int = 0  # every request that reached the server, resends included
    cut_off: int = 0  # of those, requests on the wire when the run was interrupted (never answered)
    retries: dict[str, int] = field(default_factory=dict)  # by cause: "429", "500", "timeout", ...
    # Guided decoding: the response_format requests carry now ("json_schema", "json_object_schema"
    # = json_object with llama-cpp-python's schema extension, "json_object", "off"; None where the
    # backend has no such choice), and one line per step down: "json_schema -> json_object_schema:
    # <what the server said>".
    guided_mode: str | None = None
    guided_fallbacks: list[str] = field(default_factory=list)
    guided_resends: int = 0  # requests sent again in a plainer mode after a refusal (not retries)
    # Context window: its length in tokens where known, and where from ("/v1/models max_model_len",
    # "/props n_ctx", "error answer", "engine max_model_len"), else None.
    context_length: int | None = None
    context_source: str | None = None
    capped: int = 0  # calls whose max_tokens was lowered to fit the context (or the output limit)
    capped_largest_ask: int = 0  # the largest max_tokens asked among those calls
    context_resends: int = 0  # requests sent again with a lower max_tokens after an over-long answer
    context_overflows: int = 0  # calls that could not fit at all (the prompt alone fills the context)
    # Prompt tokens of this run's answers and those the engine read from its prompt cache (where it
    # reports them): how much of the shared prompt prefix was reused.
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0

    def retried(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1

    def cap(self, asked: int) -> None:
        self.capped += 1
        self.capped_largest_ask = max(self.capped_largest_ask, asked)


class Backend(Protocol):
    name: str
    counters: BackendCounters
    # Whether its guided decoding honours a schema's maxLength (llama.cpp's grammars do; strict API
    # schemas refuse length keywords, and other engines' support varies): the plan then bounds each
    # query string, so a weak model's runaway string stops there instead of at max_tokens.
    string_lengths: bool

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def close(self) -> None: ...


class BackendError(RuntimeError):
    """Fatal for the whole run (bad key, unreachable server, unknown model): the message is one
    line for the user and never holds a secret."""


class RequestFailed(RuntimeError):
    """This one request failed after all retries; the run goes on without it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
