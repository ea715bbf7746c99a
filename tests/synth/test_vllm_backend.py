"""The vllm backend with a stand-in `vllm` module (vLLM itself needs a GPU): batching, guided JSON,
tensor parallelism, and the whole pipeline on top of it."""

from __future__ import annotations

import random
import sys
import types
from dataclasses import dataclass

import pytest

from synth.dataset.dataset import read_rows
from synth.testing.fake_openai import FakeLLM, Faults

from .conftest import read_stats, run_generate


@dataclass
class GuidedDecodingParams:
    json: dict


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class StandInLLM:
    instances: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls: list[list] = []
        self.answers = FakeLLM(Faults())
        StandInLLM.instances.append(self)

    def chat(self, conversations, params, use_tqdm=False):
        self.calls.append(list(zip(conversations, params, strict=True)))
        results = []
        for conversation, p in zip(conversations, params, strict=True):
            text, _ = self.answers.answer(conversation[-1]["content"], random.Random(p.seed))
            out = types.SimpleNamespace(text=text, token_ids=[0] * (len(text) // 4), finish_reason="stop")
            results.append(types.SimpleNamespace(outputs=[out], prompt_token_ids=[0] * 100))
        return results


@pytest.fixture
def stand_in_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.SamplingParams = SamplingParams
    sampling.GuidedDecodingParams = GuidedDecodingParams
    vllm.LLM = StandInLLM
    vllm.SamplingParams = SamplingParams
    vllm.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    StandInLLM.instances = []
    return StandInLLM


def test_vllm_backend_batches_and_guides_the_whole_pipeline(stand_in_vllm, tmp_path):
    out = tmp_path / "run"
    assert (
        run_generate(
            out,
            None,
            backend="vllm",
            model="Qwen/Qwen2.5-7B-Instruct",
            num_examples=40,
            tensor_parallel_size=2,
            concurrency=64,
        )
        == 0
    )
    (llm,) = stand_in_vllm.instances
    assert llm.kwargs["model"] == "Qwen/Qwen2.5-7B-Instruct" and llm.kwargs["tensor_parallel_size"] == 2
    sizes = [len(batch) for batch in llm.calls]
    assert max(sizes) > 10  # many requests per LLM.chat call, not one at a time
    generate_params = [
        p for batch in llm.calls for conv, p in batch if not conv[0]["content"].startswith("Brainstorm")
    ]
    assert all(isinstance(p.guided_decoding, GuidedDecodingParams) for p in generate_params)
    assert all(p.temperature == 1.0 and p.top_p == 1.0 and p.max_tokens >= 512 for p in generate_params)
    rows = read_rows(out)
    assert len(rows) == 40 and {r["model"] for r in rows} == {"Qwen/Qwen2.5-7B-Instruct"}
    assert read_stats(out)["calls"]["made_this_run"] == sum(sizes)


def test_newer_vllm_structured_outputs_api_is_used_when_present(stand_in_vllm, tmp_path):
    @dataclass
    class StructuredOutputsParams:
        json: dict

    sys.modules["vllm.sampling_params"].StructuredOutputsParams = StructuredOutputsParams
    out = tmp_path / "run"
    assert run_generate(out, None, backend="vllm", model="m", num_examples=5, task_types="sts") == 0
    params = [p for batch in stand_in_vllm.instances[0].calls for _, p in batch]
    assert all(isinstance(p.structured_outputs, StructuredOutputsParams) for p in params)
    assert params[0].structured_outputs.json["required"] == ["S1", "S2", "S3"]
