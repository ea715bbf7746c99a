"""BEIR and STS file readers: what they read, and one clear error per kind of bad input."""

from __future__ import annotations

import json

import pytest

from eval.beir import load_beir
from eval.errors import EvalError
from eval.sts_file import load_sts


def test_beir_reads_titles_and_keeps_judged_queries(beir_dir):
    data = load_beir(beir_dir, "test")
    assert len(data.corpus) == 150
    first = json.loads((beir_dir / "corpus.jsonl").read_text().splitlines()[0])
    assert data.corpus["d0"] == f"{first['title']} {first['text']}"  # mteb joins title and text the same way
    assert set(data.queries) == set(data.qrels) and "q12" not in data.queries  # q12, q13 have no judgements


def test_beir_missing_dir_and_files(tmp_path, beir_dir):
    with pytest.raises(EvalError, match="not a directory"):
        load_beir(tmp_path / "nope")
    with pytest.raises(EvalError, match=r"qrels.*dev.*splits present: \['test'\]"):
        load_beir(beir_dir, "dev")
    (beir_dir / "queries.jsonl").unlink()
    with pytest.raises(EvalError, match=r"queries.jsonl: queries file not found"):
        load_beir(beir_dir)


def test_beir_unknown_ids_in_qrels(beir_dir):
    with (beir_dir / "qrels" / "test.tsv").open("a") as f:
        f.write("q0\tnot-a-doc\t1\n")
    with pytest.raises(
        EvalError, match=r"test.tsv: 1 document id\(s\) not in corpus.jsonl, e.g. \['not-a-doc'\]"
    ):
        load_beir(beir_dir)
    with (beir_dir / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\nghost\td1\t1\n")
    with pytest.raises(EvalError, match=r"query id\(s\) not in queries.jsonl, e.g. \['ghost'\]"):
        load_beir(beir_dir)


def test_beir_empty_corpus_and_bad_lines(beir_dir):
    (beir_dir / "corpus.jsonl").write_text("")
    with pytest.raises(EvalError, match="corpus is empty"):
        load_beir(beir_dir)
    (beir_dir / "corpus.jsonl").write_text('{"_id": "d0", "text": "x"}\n{not json\n')
    with pytest.raises(EvalError, match=r"corpus.jsonl:2: not valid JSON"):
        load_beir(beir_dir)
    for bad in ('["d1", "x"]', '{"_id": "d1"}'):  # not an object, or an object without 'text'
        (beir_dir / "corpus.jsonl").write_text(f'{{"_id": "d0", "text": "x"}}\n\n{bad}\n')
        with pytest.raises(EvalError, match=r"corpus.jsonl:3: each line needs the keys '_id' and 'text'"):
            load_beir(beir_dir)


def test_sts_tsv_with_unbalanced_quotes_and_csv(tmp_path, sts_file):
    data = load_sts(sts_file)
    assert len(data.score) == 40
    p = tmp_path / "q.tsv"
    p.write_text('sentence1\tsentence2\tscore\nsays "no diving".\tthe rule "when in doubt\t4.0\nb\tc\t1\n')
    assert load_sts(p).sentence2[0] == 'the rule "when in doubt'
    c = tmp_path / "p.csv"
    c.write_text('idx,sentence1,sentence2,score\n0,"a, b",c,1.5\n1,d,e,2\n')
    data = load_sts(c)
    assert data.sentence1 == ["a, b", "d"] and data.score == [1.5, 2.0]


def test_sts_errors(tmp_path):
    with pytest.raises(EvalError, match="file not found"):
        load_sts(tmp_path / "none.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("s1\ts2\tscore\na\tb\t1\n")
    with pytest.raises(EvalError, match="missing sentence1, sentence2"):
        load_sts(bad)
    bad.write_text("sentence1\tsentence2\tscore\na\tb\thigh\nc\td\t1\n")
    with pytest.raises(EvalError, match=r"bad.tsv:2: score 'high' is not a number"):
        load_sts(bad)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(EvalError, match="expected a .tsv or .csv"):
        load_sts(tmp_path / "x.json")
