"""--loss kd|margin_mse end to end on the tiny Mistral: teacher_scores are read, aligned with each
query's own candidates, and reach the loss; rows without them are one line naming the file."""

from __future__ import annotations

import json

import pytest

from tests.train.conftest import losses, make_rows, small_config, with_teacher, write_dataset_dir
from train.data import Example, load_examples
from train.errors import ConfigError, DataError
from train.sampler import NoDuplicateBatchSampler


def ex(pos: str, neg: str | None = None, mined: tuple[str, ...] = (), teacher=None) -> Example:
    return Example("i", "q" + pos, pos, neg, mined_negatives=mined, teacher=teacher)


def test_own_candidates_point_at_the_one_copy_the_step_embeds():
    """The docstring's example: row 1 draws N0 (row 0's negative) and P0 (row 0's positive); both
    are embedded once, and row 1's own candidates point there, with row 1's teacher scores."""
    rows = [
        ex("P0", "N0", teacher={"P0": 5.0, "N0": 1.0}),
        ex("P1", "N0", mined=("P0",), teacher={"P1": 4.0, "N0": 2.0, "P0": 3.0}),
    ]
    s = NoDuplicateBatchSampler(rows, batch_size=2, seed=0, negatives_per_query=2)
    negatives = s.negatives([0, 1], epoch=0)
    assert negatives == [("N0",), ()]  # docs: P0 P1 N0
    own, scores = s.own_candidates([0, 1], negatives, epoch=0)
    assert own[0] == [0, 2] and scores[0] == [5.0, 1.0]
    drawn = {1: [2, 0], 0: [0, 2]}  # row 1's draw order is the seeded sample's
    assert own[1][0] == 1 and sorted(own[1][1:]) == [0, 2]
    assert scores[1] == [4.0] + [{2: 2.0, 0: 3.0}[i] for i in own[1][1:]]
    assert drawn  # both orders are valid draws; the scores follow the indices


def test_rows_without_teacher_scores_are_one_line_naming_the_file(tmp_path):
    rows = with_teacher(make_rows(8))
    del rows[3]["teacher_scores"]
    ds = write_dataset_dir(tmp_path / "ds", rows)
    with pytest.raises(DataError, match=r"train-00000\.jsonl row 4: no 'teacher_scores' \(--loss kd"):
        load_examples([str(ds)], need_teacher="kd")
    assert len(load_examples([str(ds)])) == 8  # info_nce ignores the column
    rows[3]["teacher_scores"] = [1.0, 2.0, 3.0]
    bad = write_dataset_dir(tmp_path / "bad", rows)
    with pytest.raises(DataError, match="row 4: field 'teacher_scores' has 3 scores but the row has"):
        load_examples([str(bad)])


def test_teacher_losses_need_hard_negatives(tmp_path):
    with pytest.raises(ConfigError, match="--negatives-per-query must be >= 1"):
        small_config(tmp_path, tmp_path, tmp_path / "o", loss="margin_mse", negatives_per_query=0)


def test_kd_and_margin_mse_train_and_the_teacher_reaches_the_loss(model_dir, tmp_path):
    """kd with --kd-alpha 0 is the KL term alone: other teacher scores give another first loss; the
    model dir records the loss. margin_mse runs on the same rows."""
    from train.lora import main

    rows = make_rows(32)  # every other row has a written negative: in-batch rows without one add 0
    a = write_dataset_dir(tmp_path / "a", with_teacher(rows, seed=0))
    b = write_dataset_dir(tmp_path / "b", with_teacher(rows, seed=1))
    kw = dict(max_steps=2, lora_dropout=0.0, kd_alpha=0.0, loss="kd", teacher_temperature=0.5)
    main(small_config(model_dir, a, tmp_path / "kd-a", **kw))
    main(small_config(model_dir, b, tmp_path / "kd-b", **kw))
    first_a, first_b = losses(tmp_path / "kd-a")[0], losses(tmp_path / "kd-b")[0]
    assert first_a > 0 and first_b > 0 and abs(first_a - first_b) > 1e-4
    meta = json.loads((tmp_path / "kd-a" / "synthembed.json").read_text())
    assert meta["training"]["loss"] == "kd" and meta["training"]["kd_alpha"] == 0.0
    main(small_config(model_dir, a, tmp_path / "mm", max_steps=2, loss="margin_mse"))
    assert all(x == x and x > 0 for x in losses(tmp_path / "mm"))
