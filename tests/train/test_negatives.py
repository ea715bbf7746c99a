"""--negatives-per-query K: which negatives a row brings, that batches stay free of repeated texts,
and that a run on a dir mined by synth.mine embeds and scores exactly K per query."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.train.conftest import make_rows, small_config, write_dataset_dir, write_mined_dir
from train.data import Example, load_examples
from train.errors import DataError
from train.negatives import candidates, draw_negatives, row_id
from train.sampler import NoDuplicateBatchSampler


def row(pos: str = "pos", neg: str | None = "n1", mined: tuple[str, ...] = ()) -> Example:
    return Example("i", "q", pos, neg, mined_negatives=mined)


def test_worked_example_from_the_docstring():
    ex = row(neg="n1", mined=("n2", "n1", "pos", "n3"))
    assert candidates(ex) == ("n1", "n2", "n3")  # own first, repeats and the positive left out
    one = draw_negatives(ex, 1, seed=0, epoch=0, row="r5")
    two = draw_negatives(ex, 2, seed=0, epoch=0, row="r5")
    assert len(one) == 1 and len(two) == 2 and set(two) <= {"n1", "n2", "n3"} and len(set(two)) == 2
    assert (
        draw_negatives(ex, 3, 0, 0, "r5") == draw_negatives(ex, 9, 0, 0, "r5") == ("n1", "n2", "n3")
    )  # fewer: all
    assert draw_negatives(ex, 0, 0, 0, "r5") == ()


def test_draw_is_deterministic_per_seed_epoch_and_row_and_varies_across_them():
    ex = row(neg=None, mined=tuple(f"m{i}" for i in range(20)))
    draws = {(s, e, r): draw_negatives(ex, 3, s, e, r) for s in (0, 1) for e in (0, 1) for r in ("r0", "r1")}
    assert all(draw_negatives(ex, 3, *key) == value for key, value in draws.items())
    assert len(set(draws.values())) == len(draws)  # 8 keys, 8 different draws of 3 from 20


def test_k1_on_unmined_rows_is_the_rows_own_negative():
    assert draw_negatives(row(neg="n1"), 1, 0, 0, "r0") == ("n1",)
    assert draw_negatives(row(neg=None), 1, 0, 0, "r0") == ()
    assert (
        draw_negatives(row(pos="same", neg="same"), 1, 0, 0, "r0") == ()
    )  # a negative equal to the positive


def test_reads_the_mined_column_and_rejects_a_bad_one(tmp_path):
    rows = make_rows(3)
    rows[0]["mined_negatives"] = ["a b", "", "c d"]
    rows[1]["mined_negatives"] = None
    rows[2]["mined_negatives"] = []
    got = load_examples([str(write_dataset_dir(tmp_path / "ok", rows, fmt="parquet"))])
    assert [e.mined_negatives for e in got] == [("a b", "c d"), (), ()]  # empty strings are no negative
    rows[1]["mined_negatives"] = ["x", 3]
    with pytest.raises(DataError, match="row 2: field 'mined_negatives' must be a list of strings or null"):
        load_examples([str(write_dataset_dir(tmp_path / "bad", rows))])


def test_a_drawn_negative_that_is_a_batch_positive_is_embedded_once_and_still_scored():
    """Mined negatives are other rows' positives: such a text stays in the batch once, as that row's
    positive, so the row that drew it still meets it as a negative and no query meets a copy of its positive."""
    rows = [
        Example(
            "i", f"q{i}", f"p{i}", f"n{i % 3}", mined_negatives=tuple(f"p{j}" for j in range(12) if j != i)
        )
        for i in range(12)
    ]
    sampler = NoDuplicateBatchSampler(rows, 4, seed=0, negatives_per_query=3)
    merged = 0
    for epoch in (0, 1):
        for batch in sampler.batches(epoch):
            positives = [rows[i].positive for i in batch]
            brought = sampler.negatives(batch, epoch)
            docs = positives + [n for negs in brought for n in negs]
            assert len(docs) == len(set(docs)), batch
            for i in batch:
                drawn = draw_negatives(rows[i], 3, 0, epoch, row_id(rows[i]))
                assert len(drawn) == 3 and set(drawn) <= set(docs) - {rows[i].positive}
                merged += len(set(drawn) & set(positives))
    assert merged > 0 and sampler.batches(0) != sampler.batches(1)


def test_resume_state_records_k():
    rows = [row(pos=f"p{i}") for i in range(4)]
    state = NoDuplicateBatchSampler(rows, 2, 0, negatives_per_query=3).state_dict()
    with pytest.raises(ValueError, match="negatives_per_query=3 .*, this run has .* negatives_per_query=1"):
        NoDuplicateBatchSampler(rows, 2, 0).load_state_dict(state)
    old = {k: v for k, v in state.items() if k != "negatives_per_query"}  # a checkpoint from before K
    NoDuplicateBatchSampler(rows, 2, 0).load_state_dict(old)


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """A real mined dir: synth.mine with a tiny sentence-transformers model, 3 mined negatives per row."""
    return write_mined_dir(tmp_path_factory.mktemp("mined"), make_rows(64))


def hand_info_nce(q: list[list[float]], docs: list[list[float]], positive: int, temperature: float) -> float:
    """-log softmax of one query over every document, with plain floats."""
    logits = [sum(a * b for a, b in zip(q, d, strict=True)) / temperature for d in docs]
    top = max(logits)
    return -(logits[positive] - top - math.log(sum(math.exp(x - top) for x in logits)))


def test_training_on_a_mined_dir_scores_each_query_against_k_hard_negatives(mined, model_dir, tmp_path):
    """K=3: each query is scored against its 3 drawn negatives plus everything else in the batch, and
    the first step's loss is that InfoNCE computed by hand from the untouched base model (LoRA starts
    as the identity). A drawn negative that is another row's positive is embedded once."""
    from transformers import AutoModel, AutoTokenizer

    from common.query_format import format_query
    from train.inputs import tokenize
    from train.lora import main
    from train.modeling import embed

    examples = load_examples([str(mined)])
    assert all(len(e.mined_negatives) == 3 for e in examples)
    cfg = small_config(model_dir, mined, tmp_path / "o", negatives_per_query=3, lora_dropout=0.0)
    summary = main(cfg)
    lines = [json.loads(x) for x in (tmp_path / "o" / "metrics.jsonl").read_text().splitlines()]

    sampler = NoDuplicateBatchSampler(examples, 8, cfg.seed, negatives_per_query=3)
    batches = sampler.batches(0)[:3]
    brought = [sampler.negatives(b, 0) for b in batches]
    assert summary.steps == 3
    assert [x["documents"] for x in lines] == [8 + sum(map(len, negs)) for negs in brought]
    assert all(16 < x["documents"] <= 8 * (1 + 3) for x in lines)  # far more than one negative per query

    batch, negs = batches[0], brought[0]
    docs = [examples[i].positive for i in batch] + [n for ns in negs for n in ns]
    for j, i in enumerate(batch):  # every query meets all 3 of its drawn negatives, and its positive once
        drawn = draw_negatives(examples[i], 3, cfg.seed, 0, row_id(examples[i]))
        assert len(drawn) == 3 and set(drawn) <= set(docs) and docs.index(examples[i].positive) == j
    tok, base = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        queries = [format_query(examples[i].instruction, examples[i].query) for i in batch]
        q = embed(base, tokenize(tok, queries, cfg.max_length), "last").tolist()
        d = embed(base, tokenize(tok, docs, cfg.max_length), "last").tolist()
    expected = sum(hand_info_nce(q[j], d, j, cfg.temperature) for j in range(8)) / 8
    assert lines[0]["loss"] == pytest.approx(expected, abs=1e-4)
    # ... and not the loss with only the positives as candidates: the negatives really are scored.
    in_batch_only = sum(hand_info_nce(q[j], d[:8], j, cfg.temperature) for j in range(8)) / 8
    assert abs(lines[0]["loss"] - in_batch_only) > 1e-2


def test_grad_cache_gives_the_same_losses_with_k_negatives(mined, model_dir, tmp_path):
    from train.lora import main

    kw = dict(negatives_per_query=3, lora_dropout=0.0, max_grad_norm=0.0, max_steps=2)
    main(small_config(model_dir, mined, tmp_path / "full", **kw))
    main(small_config(model_dir, mined, tmp_path / "gc", grad_cache_chunk=5, **kw))

    def losses(out):
        return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "gc") == pytest.approx(losses(tmp_path / "full"), abs=1e-5)


def test_k_on_unmined_data_warns_and_default_k_is_todays_behaviour(caplog, dataset_dir):
    from train.negatives import log_negatives

    examples = load_examples([str(dataset_dir)])
    with caplog.at_level("INFO", logger="train.negatives"):
        log_negatives(examples, 4)
    assert "no row has more than one candidate" in caplog.text
    sampler = NoDuplicateBatchSampler(examples, 8, seed=0)  # default K=1: each row's own negative
    for batch in sampler.batches(0):
        assert sampler.negatives(batch, 0) == [
            (examples[i].negative,) if examples[i].negative else () for i in batch
        ]
