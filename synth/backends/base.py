"""The protocol every backend implements, and the errors the runner understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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


@dataclass
class BackendCounters:
    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)  # by cause: "429", "500", "timeout", ...

    def retried(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1


class Backend(Protocol):
    name: str
    counters: BackendCounters

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
