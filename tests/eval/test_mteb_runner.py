"""eval.mteb: task sets, instructions per the paper's protocol, results JSON and summary table."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from eval import mteb as eval_mteb
from eval.errors import EvalError
from eval.instructions import (
    E5_MISTRAL_56,
    check_override_keys,
    load_overrides,
    normalize_for,
    task_instruction,
)
from eval.mteb_runner import MtebEncoder, resolve_tasks


def test_paper_task_set_is_the_56_english_tasks():
    tasks = resolve_tasks("e5-mistral-56")
    assert len(tasks) == len(E5_MISTRAL_56) == 56
    assert Counter(t.metadata.type for t in tasks) == {
        "Retrieval": 15,
        "Classification": 12,
        "Clustering": 11,
        "STS": 10,
        "Reranking": 4,
        "PairClassification": 3,
        "Summarization": 1,
    }
    by_name = {t.metadata.name: t for t in tasks}
    assert by_name["MSMARCO"].eval_splits == ["dev"]  # the paper reports MS MARCO dev
    assert by_name["STS17"].hf_subsets == ["en-en"] and by_name["AmazonReviewsClassification"].hf_subsets == [
        "en"
    ]


def test_resolve_names_and_errors(beir_dir):
    tasks = resolve_tasks(f"SciFact,STS22,{beir_dir}")
    assert [t.metadata.name for t in tasks] == ["SciFact", "STS22", "Local-beir"]
    assert tasks[1].hf_subsets == ["en"]  # English only by default
    with pytest.raises(EvalError, match="unknown task 'SciFactt'; did you mean SciFact"):
        resolve_tasks("SciFactt")


def test_instructions_follow_the_paper_protocol():
    import mteb
    from mteb.types import PromptType

    scifact, sts12 = mteb.get_task("SciFact").metadata, mteb.get_task("STS12").metadata
    banking = mteb.get_task("Banking77Classification").metadata
    assert (
        task_instruction(scifact, PromptType.query, {})
        == "Given a scientific claim, retrieve documents that support or refute the claim"
    )
    assert task_instruction(scifact, PromptType.document, {}) is None  # documents never get one
    assert (
        task_instruction(sts12, None, {}) == "Retrieve semantically similar text."
    )  # symmetric: every input
    assert (
        task_instruction(banking, None, {}) == "Given a online banking query, find the corresponding intents"
    )
    assert task_instruction(sts12, None, {"STS": "by type"}) == "by type"
    assert task_instruction(sts12, None, {"STS": "by type", "STS12": "by name"}) == "by name"
    assert normalize_for(banking) is False and normalize_for(scifact) is None


def test_override_files(tmp_path):
    (tmp_path / "i.yaml").write_text("SciFact: find claims\nSTS: similar\n")
    (tmp_path / "i.json").write_text(json.dumps({"SciFact": "find claims"}))
    assert load_overrides(tmp_path / "i.yaml") == {"SciFact": "find claims", "STS": "similar"}
    assert load_overrides(tmp_path / "i.json") == {"SciFact": "find claims"}
    check_override_keys({"SciFact": "x", "STS": "y", "Local-beir": "z"}, tmp_path / "i.json", {"Local-beir"})
    with pytest.raises(EvalError, match=r"unknown task name\(s\) \['SciFakt'\]"):
        check_override_keys({"SciFakt": "x"}, tmp_path / "i.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(EvalError, match="bad.json: not valid JSON"):
        load_overrides(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(EvalError, match="expected a mapping"):
        load_overrides(tmp_path / "list.yaml")


class Spy:
    """Records what the mteb adapter asks the encoder for."""

    takes_instructions = True

    def __init__(self):
        self.calls = []
        self.spec = None

    def encode(self, texts, *, instruction=None, normalize=None):
        self.calls.append((len(texts), instruction, normalize))
        return np.ones((len(texts), 4), np.float32)


def test_adapter_passes_instruction_and_normalisation():
    import mteb
    from mteb.types import PromptType

    spy = Spy()
    adapter = MtebEncoder.__new__(MtebEncoder)  # no model needed to check the routing
    adapter.encoder, adapter.overrides, adapter.logged = spy, {"SciFact": "custom"}, set()
    batches = [{"text": ["a", "b"]}, {"text": ["c"]}]
    kw = dict(hf_split="test", hf_subset="default")
    adapter.encode(
        batches, task_metadata=mteb.get_task("SciFact").metadata, prompt_type=PromptType.query, **kw
    )
    adapter.encode(
        batches, task_metadata=mteb.get_task("SciFact").metadata, prompt_type=PromptType.document, **kw
    )
    adapter.encode(batches, task_metadata=mteb.get_task("Banking77Classification").metadata, **kw)
    assert spy.calls[0] == (3, "custom", None)
    assert spy.calls[1] == (3, None, None)
    assert spy.calls[2][1].startswith("Given a online banking query") and spy.calls[2][2] is False

    spy.takes_instructions = False  # a model trained without instructions: none, even from the overrides
    spy.calls.clear()
    adapter.encode(
        batches, task_metadata=mteb.get_task("SciFact").metadata, prompt_type=PromptType.query, **kw
    )
    adapter.encode(batches, task_metadata=mteb.get_task("Banking77Classification").metadata, **kw)
    assert spy.calls == [(3, None, None), (3, None, False)]


def test_main_writes_mteb_results_and_summary(our_model_dir, beir_dir, sts_file, tmp_path):
    (tmp_path / "instr.json").write_text(json.dumps({"Local-beir": "find the passage about the text"}))
    cfg = eval_mteb.Config(
        model=str(our_model_dir),
        tasks=f"{beir_dir},{sts_file}",
        out=tmp_path / "out",
        instructions=tmp_path / "instr.json",
        cache_dir=str(tmp_path / "cache"),
        progress=False,
    )
    summary = eval_mteb.main(cfg)
    results = {
        p.stem: json.loads(p.read_text()) for p in (tmp_path / "out" / "results").rglob("Local-*.json")
    }
    assert set(results) == {"Local-beir", "Local-pairs"}
    rows = {r["task"]: r for r in summary["tasks"]}
    assert rows["Local-beir"]["main_score"] == "ndcg_at_10"
    assert rows["Local-beir"]["score"] == pytest.approx(
        100 * results["Local-beir"]["scores"]["test"][0]["ndcg_at_10"], abs=0.01
    )
    assert rows["Local-pairs"]["score"] == pytest.approx(
        100 * results["Local-pairs"]["scores"]["test"][0]["main_score"], abs=0.01
    )
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| Local-beir | Retrieval | ndcg_at_10 |" in md and "| STS | 1 |" in md
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["averages"].keys() == {
        "Retrieval",
        "STS",
    }
    assert list((tmp_path / "cache").rglob("*.npy"))  # mteb's encode calls went through our cache


def test_every_task_type_of_the_paper_set_runs_through_the_adapter(our_model_dir, tmp_path):
    """mteb's in-memory mock tasks stand in for the 7 task types of e5-mistral-56 (no downloads)."""
    from mteb.mocks.mock_tasks.classification import MockClassificationTask
    from mteb.mocks.mock_tasks.clustering import MockClusteringTask
    from mteb.mocks.mock_tasks.pair_classification import MockPairClassificationTask
    from mteb.mocks.mock_tasks.reranking import MockRerankingTask
    from mteb.mocks.mock_tasks.retrieval import MockRetrievalTask
    from mteb.mocks.mock_tasks.sts import MockSTSTask
    from mteb.mocks.mock_tasks.summarization import MockSummarizationTask

    from eval.encoder import Encoder
    from eval.mteb_runner import run, summarize, summary_markdown

    encoder = Encoder.load(str(our_model_dir), show_progress=False)
    seen = []
    real_encode = encoder.encode

    def spy(texts, *, instruction=None, normalize=None):
        seen.append((instruction, normalize))
        return real_encode(texts, instruction=instruction, normalize=normalize)

    encoder.encode = spy
    tasks = [
        MockClassificationTask(),
        MockClusteringTask(),
        MockPairClassificationTask(),
        MockRerankingTask(),
        MockRetrievalTask(),
        MockSTSTask(),
        MockSummarizationTask(),
    ]
    summary = summarize(run(encoder, tasks, tmp_path / "out"), tasks)
    assert not summary["errors"] and len(summary["tasks"]) == 7
    assert {r["type"] for r in summary["tasks"]} == {
        "Classification",
        "Clustering",
        "PairClassification",
        "Reranking",
        "Retrieval",
        "STS",
        "Summarization",
    }
    assert (None, None) in seen  # retrieval/reranking documents: no instruction, model's normalisation
    assert any(norm is False for _, norm in seen)  # classification: raw embeddings
    assert "| **All** | 7 |" in summary_markdown(summary, "m")
