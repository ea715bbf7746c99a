import json

import pytest

from synth.checks.decontam import DecontamError, Decontaminator
from synth.dataset.dataset import read_rows

from .conftest import read_stats, run_generate

PASSAGE = "The mitochondria is the powerhouse of the cell and produces most of the chemical energy needed"


def write_beir(root):
    root.mkdir()
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "Cells", "text": PASSAGE}) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "what powers a cell"}) + "\n")
    return root


def test_13_word_overlap_is_caught_case_and_space_insensitively(tmp_path):
    d = Decontaminator([write_beir(tmp_path / "beir")])
    assert d.contaminated(
        ["Intro: THE mitochondria,   is the powerhouse of the cell and produces most of the chemical energy."]
    )
    assert not d.contaminated(["the mitochondria is the powerhouse of the cell and produces"])  # 11 words
    assert not d.contaminated(["Completely unrelated text about trains and timetables in the north.", None])


def test_sts_files_plain_text_and_unspaced_scripts(tmp_path):
    sts = tmp_path / "sts.tsv"
    sts.write_text(
        "sentence1\tsentence2\tscore\nA man is slicing a tomato on a wooden board in the kitchen today.\t"
        "A person cuts a tomato.\t4.2\n"
    )
    zh = tmp_path / "zh.txt"
    zh.write_text("北京是中国的首都，也是一座历史悠久的文化名城，拥有许多名胜古迹和博物馆。\n")
    d = Decontaminator([sts, zh])
    assert d.contaminated(["so a man is slicing a tomato on a wooden board in the kitchen today"])
    assert d.contaminated(["我知道北京是中国的首都，也是一座历史悠久的文化名城，对吧"])
    assert not d.contaminated(["北京是中国的首都"])
    assert not d.contaminated(["4.2"])  # scores are not text


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(DecontamError, match="--decontaminate .*missing: no such file"):
        Decontaminator([tmp_path / "missing"])
    (tmp_path / "x.pdf").write_text("x")
    with pytest.raises(DecontamError, match="unsupported file type '.pdf'"):
        Decontaminator([tmp_path / "x.pdf"])


def test_contaminated_rows_are_dropped_and_counted(fake, tmp_path):
    server = fake()
    clean = tmp_path / "clean"
    assert run_generate(clean, server, num_examples=20, task_types="sts", language_check=False) == 0
    leaked = read_rows(clean)[:3]
    evalset = tmp_path / "eval.jsonl"
    evalset.write_text("".join(json.dumps({"text": "x " + r["positive"] + " y"}) + "\n" for r in leaked))
    out = tmp_path / "decontaminated"
    assert (
        run_generate(
            out, server, num_examples=20, task_types="sts", language_check=False, decontaminate=[evalset]
        )
        == 0
    )
    # sts triples are short: only rows whose texts reach 13 words can be caught
    long_enough = [r for r in leaked if len(r["positive"].split()) >= 13]
    stats = read_stats(out)
    assert stats["decontamination"]["dropped"] == len(long_enough)
    assert stats["decontamination"]["sets"] == [str(evalset)] and stats["rows"] == 20
    kept = {r["id"] for r in read_rows(out)}
    assert not kept & {r["id"] for r in long_enough}
