from __future__ import annotations

import json

import pytest

from tests.train.conftest import make_rows, write_dataset_dir
from train.collator import Collator
from train.data import load_examples
from train.errors import DataError


def test_reads_parquet_and_jsonl_dirs_files_and_mixes_them(tmp_path):
    pq = write_dataset_dir(tmp_path / "p", make_rows(5, seed=1), fmt="parquet")
    js = write_dataset_dir(tmp_path / "j", make_rows(3, seed=2))
    single = js / "data" / "train-00000.jsonl"
    rows = load_examples([str(pq), str(js), str(single)])
    assert len(rows) == 11
    assert rows[0].query == make_rows(5, seed=1)[0]["query"]
    assert [r.negative is None for r in rows[:4]] == [False, True, False, True]  # null negative kept as None


def test_missing_dir_names_the_flag_and_path(tmp_path):
    with pytest.raises(DataError, match=r"--data .*nope: no such file or directory"):
        load_examples([str(tmp_path / "nope")])


def test_dir_without_data_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no data/\\*.parquet or data/\\*.jsonl"):
        load_examples([str(tmp_path / "empty")])


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"positive": None}, "field 'positive' must be a non-empty string"),
        ({"query": ""}, "field 'query'"),
        ({"negative": 3}, "field 'negative' must be a string or null"),
    ],
)
def test_rows_missing_fields_name_file_row_and_field(tmp_path, broken, message):
    rows = make_rows(3)
    rows[1].update(broken)
    d = write_dataset_dir(tmp_path / "ds", rows)
    with pytest.raises(DataError, match=rf"train-00000.jsonl row 2: {message}"):
        load_examples([str(d)])


def test_row_without_the_key_at_all(tmp_path):
    rows = make_rows(2)
    del rows[0]["instruction"]
    d = write_dataset_dir(tmp_path / "ds", rows)
    with pytest.raises(
        DataError, match="row 1: field 'instruction' must be a non-empty string \\(missing\\)"
    ):
        load_examples([str(d)])


def test_bad_json_line(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text(json.dumps(make_rows(1)[0]) + "\n{oops\n")
    with pytest.raises(DataError, match="x.jsonl:2: not valid JSON"):
        load_examples([str(tmp_path)])


def test_a_line_that_is_no_object_is_named_by_its_line_number_counting_blank_lines(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text(json.dumps(make_rows(1)[0]) + "\n\n[1, 2]\n")
    with pytest.raises(DataError, match="x.jsonl:3: expected a JSON object, got list"):
        load_examples([str(tmp_path)])


def test_collator_puts_positives_first_then_existing_negatives(tokenizer, tmp_path):
    rows = load_examples([str(write_dataset_dir(tmp_path / "ds", make_rows(4)))])  # negatives on rows 0 and 2
    batch = Collator(tokenizer, max_length=32)(rows)
    assert batch.n_pos == 4
    assert batch.queries["input_ids"].shape[0] == 4 and batch.docs["input_ids"].shape[0] == 6
    first_q = tokenizer.decode(batch.queries["input_ids"][0][batch.queries["attention_mask"][0].bool()])
    assert first_q.startswith("Instruct : find the passage") and first_q.endswith("</s>")
    neg0 = tokenizer.decode(
        batch.docs["input_ids"][4][batch.docs["attention_mask"][4].bool()], skip_special_tokens=True
    )
    assert neg0 == rows[0].negative


def test_hub_dataset_ids_go_through_datasets(monkeypatch):
    """hf://owner/name is read with datasets.load_dataset(split="train") and validated like files."""
    import sys
    import types

    seen = {}

    def load_dataset(name, split):
        seen["args"] = (name, split)
        return make_rows(3)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    rows = load_examples(["hf://me/synth-run"])
    assert seen["args"] == ("me/synth-run", "train") and len(rows) == 3


def test_steps_for_fractional_epochs():
    from train.data import Example
    from train.sampler import NoDuplicateBatchSampler
    from train.trainer import steps_for_epochs

    rows = [Example(instruction="i", query=f"q{i}", positive=f"p{i}", negative=None) for i in range(40)]
    s = NoDuplicateBatchSampler(rows, 8, seed=0)
    assert steps_for_epochs(s, 1.0) == 5 and steps_for_epochs(s, 2.0) == 10 and steps_for_epochs(s, 0.5) == 2
