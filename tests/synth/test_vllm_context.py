"""The vllm backend caps max_tokens to the engine's context length (with the stand-in `vllm` module)."""

import asyncio
import sys
import types

from synth.backends.base import ChatRequest, fit_max_tokens, prompt_tokens_bound
from synth.backends.vllm_backend import VLLMBackend

from .test_vllm_backend import stand_in_vllm  # noqa: F401  (the fixture)

PROMPT = 'Write a triple of passages ... "S1", "S2" and "S3" ...'


def run(backend, max_tokens: int) -> list:
    async def go():
        try:
            await asyncio.gather(
                *(backend.complete(ChatRequest(f"g:{i}:0", PROMPT, max_tokens)) for i in range(3))
            )
        finally:
            await backend.close()

    asyncio.run(go())
    return [p.max_tokens for batch in backend.llm.calls for _, p in batch]


def test_engine_max_model_len_caps_max_tokens(stand_in_vllm):  # noqa: F811
    class EngineWithContext(stand_in_vllm):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=2048))

    sys.modules["vllm"].LLM = EngineWithContext  # the fixture's own module object, per test
    backend = VLLMBackend("m", max_model_len=2048)
    assert run(backend, 7512) == [fit_max_tokens(7512, prompt_tokens_bound(PROMPT), 2048)] * 3
    c = backend.counters
    assert (c.context_length, c.context_source, c.capped, c.capped_largest_ask) == (
        2048,
        "engine max_model_len",
        3,
        7512,
    )
    assert c.guided_mode == "json_schema"


def test_unknown_context_leaves_max_tokens_alone(stand_in_vllm):  # noqa: F811
    backend = VLLMBackend("m")  # the stand-in engine exposes no model_config
    assert run(backend, 7512) == [7512] * 3
    assert (backend.counters.context_length, backend.counters.capped) == (None, 0)
