"""The `synth.judge` command line, as one dataclass: every option's help lives on its field.

The LLM options (backend, model, server, key, concurrency, retries, prices) are synth.generate's:
the same names, the same help (taken from `GenerateConfig`'s fields, so it is written once) and the
same checks (a `GenerateConfig` is built from them in `__post_init__`, which raises the same
one-line errors), so `synth.adapt` passes one set of LLM flags to both stages.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from common.cli import opt
from synth.mining.embedder import QUERY_FORMATS
from synth.run.config import GenerateConfig

MODES = ("score", "relabel")
SCORE_RANGE = (1, 5)
_GENERATE = {f.name: f for f in fields(GenerateConfig)}


def llm_opt(name: str, default=dataclasses.MISSING):
    """synth.generate's option `name`, with its help and (unless given) its default."""
    f = _GENERATE[name]
    return opt(f.default if default is dataclasses.MISSING else default, f.metadata["help"])


LLM_FIELDS = ("backend", "model", "base_url", "api_key_env", "concurrency", "rpm", "tpm", "timeout",
              "max_retries", "temperature", "top_p", "guided", "batch_window", "batch_max_requests",
              "batch_poll_s", "tensor_parallel_size", "prices", "price_in", "price_out", "max_reasks",
              "max_cost")  # fmt: skip


@dataclass
class JudgeConfig:
    """Judge a dataset dir's grounded rows with an LLM: drop low-scored rows, or relabel positives."""

    data: Path = field(metadata={"help": "dataset dir to judge (only read)"})
    out: Path = field(
        metadata={"help": "new dataset dir to write (and resume: answered calls are journaled in it)"}
    )
    mode: Literal["score", "relabel"] = field(
        metadata={
            "help": "score: rate each (query, passage) 1-5 for relevance, answerability and clarity and "
            "drop rows under --threshold; relabel: the judge picks the best of the query's top-k "
            "corpus passages, which becomes the positive"
        }
    )
    threshold: int = opt(
        3,
        "score mode: a row is dropped when its lowest score (of relevance, answerability, "
        "clarity) is below this, 1..5",
    )
    on_invalid: Literal["keep", "drop"] = opt(
        "keep",
        "rows the judge gave no verdict on (answers still invalid after --max-reasks re-asks, or calls "
        "that failed): keep them unjudged (`judge` null) or drop them; counted either way",
    )
    corpus: Path | None = opt(
        None, "relabel mode: the corpus the rows were generated from (passages.jsonl, or the dir holding it)"
    )
    embed_model: str | None = opt(
        None,
        "relabel mode: sentence-transformers model (local dir or Hub id) that "
        "retrieves each query's top-k passages",
    )
    top_k: int = opt(
        5, "relabel mode: candidate passages shown to the judge, the seed passage always among them"
    )
    query_format: Literal["auto", "instruct", "plain"] = opt(
        "auto",
        f"relabel mode, query text: {', '.join(QUERY_FORMATS)} (auto: instruct when the model records "
        "an 'Instruct:' prompt, else plain)",
    )
    batch_size: int = opt(64, "relabel mode: texts per encoder batch")
    device: str = opt("auto", "relabel mode: torch device: auto (cuda if available), cpu, cuda, cuda:1, ...")
    seed: int = opt(
        0, "relabel mode: seeds the order candidates are shown in (shuffled against position bias)"
    )
    max_tokens: int = opt(
        256, "max_tokens of one judge answer; a truncated answer is re-asked with twice as many"
    )
    max_calls: int | None = opt(
        None,
        "bound on judge calls in the journal of --out, re-asks included "
        "(default: no bound beyond 1 + --max-reasks per judged item)",
    )
    max_reasks: int = opt(2, "re-asks of a judge call whose answer is not the JSON asked for")
    max_cost: float | None = llm_opt("max_cost")
    backend: str = llm_opt("backend")
    model: str = llm_opt("model")
    base_url: str | None = llm_opt("base_url")
    api_key_env: str = llm_opt("api_key_env")
    concurrency: int | None = llm_opt("concurrency")
    rpm: int | None = llm_opt("rpm")
    tpm: int | None = llm_opt("tpm")
    timeout: float = llm_opt("timeout")
    max_retries: int = llm_opt("max_retries")
    temperature: float = opt(
        0.0, "sampling temperature of the judge (0: the same answer for the same prompt)"
    )
    top_p: float = llm_opt("top_p")
    guided: str = llm_opt("guided")
    batch_window: float = llm_opt("batch_window")
    batch_max_requests: int = llm_opt("batch_max_requests")
    batch_poll_s: float = llm_opt("batch_poll_s")
    tensor_parallel_size: int = llm_opt("tensor_parallel_size")
    prices: Path | None = llm_opt("prices")
    price_in: float | None = llm_opt("price_in")
    price_out: float | None = llm_opt("price_out")
    progress: bool = opt(True, "show a progress bar")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"--mode: {self.mode!r} is not one of {', '.join(MODES)}")
        low, high = SCORE_RANGE
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int)
            or not low <= self.threshold <= high
        ):
            raise ValueError(f"--threshold must be an integer in {low}..{high}, got {self.threshold!r}")
        if self.on_invalid not in ("keep", "drop"):
            raise ValueError(f"--on-invalid: {self.on_invalid!r} is not one of keep, drop")
        for name in ("top_k", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_calls is not None and self.max_calls < 1:
            raise ValueError(f"--max-calls must be at least 1, got {self.max_calls}")
        if self.mode == "relabel":
            if self.corpus is None:
                raise ValueError("--mode relabel needs --corpus: the passages the judge chooses among")
            if not self.embed_model:
                raise ValueError(
                    "--mode relabel needs --embed-model: the model that retrieves the candidates"
                )
            if self.top_k < 2:
                raise ValueError(
                    f"--top-k must be at least 2 in relabel mode (the seed and one rival), got {self.top_k}"
                )
        # The LLM options are checked exactly as synth.generate checks them (and get its defaults).
        llm = GenerateConfig(out=self.out, **{name: getattr(self, name) for name in LLM_FIELDS})
        self.concurrency, self.backend, self.model = llm.concurrency, llm.backend, llm.model
