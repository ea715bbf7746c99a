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
    backend: str  # "openai" | "openai-batch" | "vllm" | "local"
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


API_DEFAULT_MODEL = "gpt-4o-mini"


def choose_backend(
    backend: str | None, model: str | None, base_url: str | None, api_key_env: str
) -> tuple[str, str, str | None]:
    """(backend, model, note) for what the command line gave. Without --backend: openai when a
    server, a key or an API model is named; otherwise the embedded local model, and `note` is the
    one line that says so. Without --model: the chosen backend's default."""
    from synth.backends.local_backend import DEFAULT_MODEL, is_local_model

    note = None
    if backend is None:
        if base_url or os.environ.get(api_key_env) or (model and not is_local_model(model)):
            backend = "openai"
        else:
            backend = "local"
            note = (
                f"no --backend, --base-url or {api_key_env}: generating with the embedded "
                f"{model or DEFAULT_MODEL} on this machine's CPU. A 135M model writes demonstration-grade "
                f"data; for real data set {api_key_env} (or --base-url URL for a server such as vllm serve) "
                f"and --model NAME"
            )
    if model is None:
        model = DEFAULT_MODEL if backend == "local" else API_DEFAULT_MODEL
    return backend, model, note


def make_backend(cfg: BackendSettings, state_dir: Path) -> Backend:
    """The backend `cfg` names; `state_dir` holds what a backend keeps across runs (the Batch API's
    batches.json, so a rerun collects batches it already submitted)."""
    guided = cfg.guided == "on" or (cfg.guided == "auto" and cfg.backend == "vllm")
    if cfg.backend == "local":
        from synth.backends.local_backend import LOCAL_SLOTS, LocalBackend

        return LocalBackend(
            cfg.model, cfg.concurrency or LOCAL_SLOTS, cfg.temperature, cfg.top_p, cfg.guided != "off"
        )
    if cfg.backend == "vllm":
        from synth.backends.vllm_backend import VLLMBackend

        return VLLMBackend(
            cfg.model, cfg.tensor_parallel_size, cfg.concurrency, cfg.temperature, cfg.top_p, guided
        )
    if cfg.backend == "openai-batch":
        from synth.backends.openai_batch import OpenAIBatchBackend

        return OpenAIBatchBackend(
            cfg.model,
            os.environ.get(cfg.api_key_env),
            state_dir / "batches.json",
            cfg.base_url,
            cfg.timeout,
            cfg.max_retries,
            cfg.temperature,
            cfg.top_p,
            guided,
            cfg.batch_window,
            cfg.batch_max_requests,
            cfg.batch_poll_s,
        )
    from synth.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(
        cfg.model,
        os.environ.get(cfg.api_key_env),
        cfg.base_url,
        cfg.timeout,
        cfg.max_retries,
        cfg.temperature,
        cfg.top_p,
        cfg.rpm,
        cfg.tpm,
        cfg.guided,
        cfg.concurrency,
    )


def backend_price(cfg: BackendSettings) -> Price:
    """USD per token for `cfg`'s model on its backend; ValueError on a bad --prices file."""
    if cfg.backend == "local":
        return Price(cfg.model, cfg.price_in or 0.0, cfg.price_out or 0.0, True)  # this machine's CPU
    price = price_for(cfg.model, cfg.prices, cfg.price_in, cfg.price_out)
    if cfg.backend == "openai-batch":
        from synth.backends.openai_batch import batch_price  # imports the openai SDK

        price = batch_price(price)  # the Batch API bills half the live rates
    return price
