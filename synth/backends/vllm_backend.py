"""`vllm` backend: generation in-process with `vllm.LLM`, batched.

The runner issues requests one by one (the same code path as the HTTP backend); this backend
collects whatever is waiting into one `LLM.chat` call, run on a worker thread so the event loop keeps
queueing the next batch meanwhile. vLLM is imported only here, and only when this backend is built.
Guided JSON decoding uses whichever API the installed vLLM has (`StructuredOutputsParams` in newer
releases, `GuidedDecodingParams` in older ones).
"""

from __future__ import annotations

import asyncio
import importlib

from synth.backends.base import (
    BackendCounters,
    BackendError,
    ChatRequest,
    Completion,
    fit_max_tokens,
    prompt_tokens_bound,
)

INSTALL_HINT = "pip install 'synthembed[vllm]'"


def _import_vllm():
    try:
        return importlib.import_module("vllm")
    except ImportError:
        raise BackendError(f"--backend vllm needs vLLM, which is not installed: {INSTALL_HINT}") from None


class VLLMBackend:
    name = "vllm"
    string_lengths = False

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        max_batch_size: int = 512,
        temperature: float = 1.0,
        top_p: float = 1.0,
        guided: bool = True,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
    ):
        self.vllm = _import_vllm()
        kwargs = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
        }
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = self.vllm.LLM(**kwargs)
        self.temperature = temperature
        self.top_p = top_p
        self.guided = guided
        self.max_batch_size = max_batch_size
        self.counters = BackendCounters(guided_mode="json_schema" if guided else "off")
        self.counters.context_length = _max_model_len(self.llm)
        self.counters.context_source = "engine max_model_len" if self.counters.context_length else None
        self._queue: list[tuple[ChatRequest, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # sizes, for the summary and tests

    def _sampling_params(self, request: ChatRequest):
        sampling = importlib.import_module("vllm.sampling_params")
        max_tokens = fit_max_tokens(
            request.max_tokens, prompt_tokens_bound(request.prompt), self.context_length
        )
        if max_tokens < request.max_tokens:
            self.counters.cap(request.max_tokens)
        kwargs = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": max_tokens,
            "seed": request.seed,
        }
        if self.guided and request.json_schema is not None:
            if hasattr(sampling, "StructuredOutputsParams"):
                kwargs["structured_outputs"] = sampling.StructuredOutputsParams(json=request.json_schema)
            elif hasattr(sampling, "GuidedDecodingParams"):
                kwargs["guided_decoding"] = sampling.GuidedDecodingParams(json=request.json_schema)
        return self.vllm.SamplingParams(**kwargs)

    @property
    def context_length(self) -> int | None:
        return self.counters.context_length

    async def complete(self, request: ChatRequest) -> Completion:
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run())
        fut = loop.create_future()
        self._queue.append((request, fut))
        self._wakeup.set()
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(0)  # let every runnable coroutine enqueue before the batch is cut
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch_size], self._queue[self.max_batch_size :]
                try:
                    outputs = await loop.run_in_executor(None, self._generate, [r for r, _ in batch])
                except Exception as err:  # noqa: BLE001 - handed to every waiting caller, not swallowed
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(BackendError(f"vLLM generation failed: {err}"))
                    continue
                for (_, fut), completion in zip(batch, outputs, strict=True):
                    if not fut.done():
                        fut.set_result(completion)

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        self.batches.append(len(requests))
        self.counters.requests += len(requests)
        conversations = [[{"role": "user", "content": r.prompt}] for r in requests]
        params = [self._sampling_params(r) for r in requests]
        results = self.llm.chat(conversations, params, use_tqdm=False)
        completions = []
        for result in results:
            out = result.outputs[0]
            completions.append(
                Completion(
                    text=out.text,
                    finish_reason=out.finish_reason or "stop",
                    prompt_tokens=len(result.prompt_token_ids or []),
                    completion_tokens=len(out.token_ids),
                    # vLLM's automatic prefix caching reports what it reused (newer releases only)
                    cached_tokens=int(getattr(result, "num_cached_tokens", 0) or 0),
                )
            )
        return completions

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass  # the worker only ends by this cancel


def _max_model_len(llm) -> int | None:
    """The engine's context length (prompt + completion), where this vLLM version exposes it
    (`LLM.llm_engine.model_config` in V0 and V1 engines, `.vllm_config.model_config` beside it)."""
    engine = getattr(llm, "llm_engine", None)
    for config in (
        getattr(engine, "model_config", None),
        getattr(getattr(engine, "vllm_config", None), "model_config", None),
    ):
        value = getattr(config, "max_model_len", None)
        if isinstance(value, int) and value > 0:
            return value
    return None
