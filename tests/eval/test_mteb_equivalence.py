"""Our offline evaluators give mteb's numbers for the same model and data.

The data is a small local BEIR dir / STS file; mteb runs it as a task (eval.local_tasks), the same
code path ``eval.mteb`` uses for real tasks, with our encoder behind mteb's EncoderProtocol.
"""

from __future__ import annotations

import pytest

from eval import retrieval, sts
from eval.encoder import Encoder
from eval.local_tasks import beir_task, sts_task
from eval.mteb_runner import MtebEncoder

INSTR = "find the passage about the text"


def _mteb_scores(model_dir, task) -> dict:
    import mteb

    model = MtebEncoder(Encoder.load(str(model_dir), show_progress=False))
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False, co2_tracker=False)
    (task_result,) = result.task_results
    return task_result.scores["test"][0]


@pytest.mark.parametrize("which", ["our_model_dir", "st_model_dir"])
def test_retrieval_equals_mteb(which, beir_dir, tmp_path, request):
    model_dir = request.getfixturevalue(which)
    cfg = retrieval.Config(model=str(model_dir), data=beir_dir, instruction=INSTR, out=str(tmp_path / "r.json"),
                           cache_dir="", progress=False)  # fmt: skip
    ours = retrieval.main(cfg)["scores"]
    theirs = _mteb_scores(model_dir, beir_task(beir_dir, instruction=INSTR))
    assert (
        0 < theirs["recall_at_100"] < 1 and theirs["map_at_1000"] > 0
    )  # a real comparison, not two 0s or 1s
    for key in (
        "ndcg_at_10",
        "mrr_at_10",
        "recall_at_100",
        "map_at_100",
        "ndcg_at_1",
        "recall_at_5",
        "map_at_1000",
    ):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-5), key  # mteb rounds to 5 decimals


def test_sts_equals_mteb(our_model_dir, sts_file, tmp_path):
    instruction = "Retrieve semantically similar text."
    cfg = sts.Config(model=str(our_model_dir), data=sts_file, instruction=instruction, out=str(tmp_path),
                     cache_dir="", progress=False)  # fmt: skip
    ours = sts.main(cfg)["scores"]
    theirs = _mteb_scores(our_model_dir, sts_task(sts_file, instruction=instruction))
    assert ours["spearman"] == pytest.approx(theirs["cosine_spearman"], abs=1e-6)
    assert ours["pearson"] == pytest.approx(theirs["cosine_pearson"], abs=1e-6)


def test_rerun_reads_the_cache_and_gives_the_same_scores(our_model_dir, beir_dir, tmp_path):
    cfg = retrieval.Config(model=str(our_model_dir), data=beir_dir, instruction=INSTR, out=str(tmp_path / "r.json"),
                           cache_dir=str(tmp_path / "cache"), progress=False)  # fmt: skip
    first = retrieval.main(cfg)["scores"]
    entries = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")}
    assert len(entries) == 2  # corpus and queries
    assert retrieval.main(cfg)["scores"] == first
    assert {
        p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")
    } == entries  # read, not rewritten
