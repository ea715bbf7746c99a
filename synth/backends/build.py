"""One LLM backend from a command line's LLM settings: shared by every stage that calls an LLM.

`synth.generate` (GenerateConfig) and `synth.judge` (JudgeConfig) carry the same LLM fields under
the same names; anything with those attributes (`BackendSettings`) builds a backend here, and the
price a run pays per token (the Batch API bills half). Each SDK is imported only for its backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from synth.backends.base import Backend
from synth.plan.pricing import Price, price_for


class BackendSettings(Protocol):
    backend: str  # "openai" | "openai-batch" | "vllm"
    model: str
    base_url: str | None
    api_key_env: str
    concurrency: int | None
    timeout: float
    max_retries: int
    temperature: float
    top_p: float
    rpm: int | None
    tpm: int | None
    guided: str  # "auto" | "on" | "off"
    tensor_parallel_size: int
    batch_window: float
    batch_max_requests: int
    batch_poll_s: float
    prices: Path | None
    price_in: float | None
    price_out: float | None


def make_backend(cfg: BackendSettings, state_dir: Path) -> Backend:
    """The backend `cfg` names; `state_dir` holds what a backend keeps across runs (the Batch API's
    batches.json, so a rerun collects batches it already submitted)."""
    guided = cfg.guided == "on" or (cfg.guided == "auto" and cfg.backend == "vllm")
    if cfg.backend == "vllm":
        from synth.backends.vllm_backend import VLLMBackend

        return VLLMBackend(
            cfg.model, cfg.tensor_parallel_size, cfg.concurrency, cfg.temperature, cfg.top_p, guided
        )
    if cfg.backend == "openai-batch":
        from synth.backends.openai_batch import OpenAIBatchBackend

        return OpenAIBatchBackend(cfg.model, os.environ.get(cfg.api_key_env), state_dir / "batches.json",
                                  cfg.base_url, cfg.timeout, cfg.max_retries, cfg.temperature, cfg.top_p, guided,
                                  cfg.batch_window, cfg.batch_max_requests, cfg.batch_poll_s)  # fmt: skip
    from synth.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(cfg.model, os.environ.get(cfg.api_key_env), cfg.base_url, cfg.timeout, cfg.max_retries,
                         cfg.temperature, cfg.top_p, cfg.rpm, cfg.tpm, cfg.guided, cfg.concurrency)  # fmt: skip


def backend_price(cfg: BackendSettings) -> Price:
    """USD per token for `cfg`'s model on its backend; ValueError on a bad --prices file."""
    price = price_for(cfg.model, cfg.prices, cfg.price_in, cfg.price_out)
    if cfg.backend == "openai-batch":
        from synth.backends.openai_batch import batch_price  # imports the openai SDK

        price = batch_price(price)  # the Batch API bills half the live rates
    return price
