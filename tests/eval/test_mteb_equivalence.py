"""Our offline evaluators give mteb's numbers for the same model and data.

The data is a small local BEIR dir / STS file; mteb runs it as a task (eval.local_tasks), the same
code path ``eval.mteb`` uses for real tasks, with our encoder behind mteb's EncoderProtocol.
Retrieval goes through the real tiny models on both sides (mteb rounds its scores to 5 decimals, so
1e-5 is the test's resolution anyway). STS is compared at 1e-6 on the SAME embeddings
(tests/eval/fixed_encoder.py): the tiny models' nearly parallel vectors would make the comparison
measure float32 rounding in the two scoring paths, which moves with numpy/sklearn versions (mteb
2.26.24 with numpy 2.4.6: Pearson 0.2450830 ours vs 0.2450815 mteb's on the same vectors).
"""

from __future__ import annotations

import numpy as np
import pytest

from eval import retrieval, sts
from eval.encoder import Encoder
from eval.local_tasks import beir_task, sts_task
from eval.mteb_runner import MtebEncoder
from eval.sts_file import load_sts
from tests.eval.fixed_encoder import FixedEncoder

INSTR = "find the passage about the text"


def _mteb_scores(model_dir_or_encoder, task) -> dict:
    import mteb

    encoder = model_dir_or_encoder
    if not isinstance(encoder, FixedEncoder):
        encoder = Encoder.load(str(model_dir_or_encoder), show_progress=False)
    model = MtebEncoder(encoder)
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False, co2_tracker=False)
    (task_result,) = result.task_results
    return task_result.scores["test"][0]


@pytest.mark.parametrize("which", ["our_model_dir", "st_model_dir"])
def test_retrieval_equals_mteb(which, beir_dir, tmp_path, request):
    model_dir = request.getfixturevalue(which)
    cfg = retrieval.Config(
        model=str(model_dir),
        data=beir_dir,
        instruction=INSTR,
        out=str(tmp_path / "r.json"),
        cache_dir="",
        progress=False,
    )
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


def sts_vectors(path, dim: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Random vectors whose pair cosines follow the gold scores loosely (a real spread, |r| ~ 0.5)."""
    data, rng = load_sts(path), np.random.default_rng(seed)
    table = {}
    for a, b, score in zip(data.sentence1, data.sentence2, data.score, strict=True):
        table[a] = va = rng.standard_normal(dim)
        table[b] = score / 5 * va + rng.standard_normal(dim)
    return table


def test_sts_equals_mteb(sts_file, tmp_path, monkeypatch):
    """Same vectors into both: what is compared is the scoring (cosine, Pearson, Spearman)."""
    instruction = "Retrieve semantically similar text."
    fixed = FixedEncoder(sts_vectors(sts_file))
    monkeypatch.setattr(sts.Config, "load_encoder", lambda self, **kw: fixed)
    cfg = sts.Config(model="fixed", data=sts_file, instruction=instruction, out=str(tmp_path), progress=False)
    ours = sts.main(cfg)["scores"]
    assert fixed.instructions == [instruction, instruction]  # both sentences, as in mteb (below)
    theirs = _mteb_scores(fixed, sts_task(sts_file, instruction=instruction))
    assert fixed.instructions[2:] == [instruction, instruction]
    assert 0.2 < abs(theirs["cosine_pearson"]) < 0.95  # a real comparison, not a degenerate one
    # float32 vectors, cosines accurate to ~1e-7 in either path; spread ~0.3, so r moves by < 1e-6.
    assert ours["spearman"] == pytest.approx(theirs["cosine_spearman"], abs=1e-6)
    assert ours["pearson"] == pytest.approx(theirs["cosine_pearson"], abs=1e-6)


def test_rerun_reads_the_cache_and_gives_the_same_scores(our_model_dir, beir_dir, tmp_path):
    cfg = retrieval.Config(
        model=str(our_model_dir),
        data=beir_dir,
        instruction=INSTR,
        out=str(tmp_path / "r.json"),
        cache_dir=str(tmp_path / "cache"),
        progress=False,
    )
    first = retrieval.main(cfg)["scores"]
    entries = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")}
    assert len(entries) == 2  # corpus and queries
    assert retrieval.main(cfg)["scores"] == first
    assert {
        p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")
    } == entries  # read, not rewritten
