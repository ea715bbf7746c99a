"""Several data files in one run (eval.retrieval, eval.sts): names, the table, the plot, the cache counts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eval import retrieval, sts, tables
from eval.errors import EvalError
from tests.eval.conftest import write_beir, write_sts
from tests.eval.fixed_encoder import FixedEncoder


def test_expand_data_globs_dirs_and_repeats(tmp_path):
    for name in ("b", "a"):
        write_beir(tmp_path / "miracl" / name, n_docs=6, n_queries=1)
    (tmp_path / "miracl" / "notes").mkdir()  # no corpus.jsonl: not a BEIR dir, skipped inside a dir
    got = tables.expand_data([tmp_path / "miracl", str(tmp_path / "miracl" / "[ab]")], kind="beir")
    assert got == [tmp_path / "miracl" / "a", tmp_path / "miracl" / "b"]  # sorted, each once
    (tmp_path / "sts").mkdir()
    write_sts(tmp_path / "sts" / "ko.tsv")
    write_sts(tmp_path / "sts" / "ja.csv", sep=",")
    (tmp_path / "sts" / "README.md").write_text("not data")
    got = tables.expand_data([tmp_path / "sts"], kind="file", suffixes=(".tsv", ".csv"))
    assert got == [tmp_path / "sts" / "ja.csv", tmp_path / "sts" / "ko.tsv"]
    with pytest.raises(EvalError, match="no .tsv file in this directory"):
        tables.expand_data([tmp_path / "miracl"], kind="file")


def test_labels_prefer_the_data_language_and_tell_twins_apart(tmp_path):
    paths = [tmp_path / "ko" / "test.tsv", tmp_path / "ja" / "test.tsv", tmp_path / "x" / "de.tsv"]
    assert tables.labels(paths, [None, None, None]) == ["ko/test.tsv", "ja/test.tsv", "de"]
    assert tables.labels(paths, ["ko", "ja", None]) == ["ko", "ja", "de"]
    assert tables.labels(paths[:2], ["ko", "ko"]) == ["ko (ko/test.tsv)", "ko (ja/test.tsv)"]


def test_sts_files_in_one_run(tmp_path, our_model_dir, capsys):
    """A language column names a file, the stem names another; a sentence shared by both files is
    embedded once; the JSON has one entry per file and the summary, the plot lies beside it."""
    (tmp_path / "data").mkdir()
    ko = write_sts(tmp_path / "data" / "sts-ko.tsv", n=20, seed=1)
    lines = ko.read_text().splitlines()
    ko.write_text("\n".join([lines[0] + "\tlanguage"] + [x + "\tkor" for x in lines[1:]]) + "\n")
    de = write_sts(tmp_path / "data" / "de.tsv", n=20, seed=2)
    shared = lines[1].split("\t")[0]
    de.write_text(de.read_text().replace("\n", f"\n{shared}\tw1 w2 w3\t2.5\n", 1))  # 21 pairs, one shared
    cfg = sts.Config(
        model=str(our_model_dir),
        data=[str(tmp_path / "data" / "*.tsv")],
        out=str(tmp_path / "out"),
        cache_dir="",
        progress=False,
    )
    result = sts.main(cfg)
    assert [(f["language"], f["num_pairs"]) for f in result["files"]] == [("de", 21), ("kor", 20)]
    assert "scores" not in result  # several files: no single file's keys at the top level
    summary = result["summary"]
    assert summary["metric"] == "spearman"
    assert summary["mean"] == pytest.approx(np.mean([f["scores"]["spearman"] for f in result["files"]]))
    assert summary["texts"] == {"total": 82, "encoded": 81, "cached": 1}
    assert json.loads((tmp_path / "out" / "sts.json").read_text())["summary"] == summary
    assert (tmp_path / "out" / "sts.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "mean (2)" in out and "texts: 82 (81 encoded, 1 from the cache)" in out


def test_one_file_keeps_its_keys_at_the_top(tmp_path, sts_file, our_model_dir):
    result = sts.main(
        sts.Config(model=str(our_model_dir), data=sts_file, out=str(tmp_path), cache_dir="", progress=False)
    )
    (entry,) = result["files"]
    assert (
        result["scores"] == entry["scores"] and result["num_pairs"] == 40 and result["data"] == str(sts_file)
    )


def test_retrieval_dirs_share_a_corpus_and_a_rerun_reads_the_cache(tmp_path, our_model_dir):
    """Two query sets over one corpus (MIRACL-style one dir per language): the corpus is encoded once;
    a rerun with the disk cache encodes nothing."""
    write_beir(tmp_path / "data" / "en", n_docs=40, n_queries=6, seed=0)
    write_beir(tmp_path / "data" / "fr", n_docs=40, n_queries=5, seed=1)
    shutil.copy(tmp_path / "data" / "en" / "corpus.jsonl", tmp_path / "data" / "fr" / "corpus.jsonl")
    cfg = retrieval.Config(
        model=str(our_model_dir),
        data=[tmp_path / "data"],
        out=str(tmp_path / "out"),
        cache_dir=str(tmp_path / "cache"),
        progress=False,
    )
    result = retrieval.main(cfg)
    assert [(f["language"], f["num_queries"]) for f in result["files"]] == [("en", 6), ("fr", 5)]
    assert result["summary"]["texts"] == {"total": 91, "encoded": 51, "cached": 40}
    assert (tmp_path / "out" / "retrieval.png").is_file()
    again = retrieval.main(cfg)
    assert again["summary"]["texts"] == {"total": 91, "encoded": 0, "cached": 91}
    assert again["summary"]["rows"] == result["summary"]["rows"]


def test_cross_lingual_retrieval_is_a_beir_dir(tmp_path, monkeypatch):
    """Queries in one language, corpus in another: read, named ko-en from the rows' language fields,
    and scored like any BEIR dir (each query's vector near its relevant document's: nDCG@10 = 1)."""
    root = tmp_path / "xling"
    (root / "qrels").mkdir(parents=True)
    docs = {f"d{i}": f"english document {i}" for i in range(30)}
    queries = {f"q{i}": f"한국어 질문 {i}" for i in range(10)}
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "text": t, "language": "en"}) + "\n" for d, t in docs.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t, "language": "ko"}) + "\n" for q, t in queries.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{3 * i}\t1\n" for i in range(10))
    )
    rng = np.random.default_rng(0)
    vectors = {t: rng.standard_normal(16) for t in docs.values()}
    vectors |= {
        t: vectors[docs[f"d{3 * i}"]] + 0.1 * rng.standard_normal(16) for i, t in enumerate(queries.values())
    }
    fixed = FixedEncoder(vectors, takes_instructions=False)
    fixed.spec.default_instruction = None
    monkeypatch.setattr(retrieval.Config, "load_encoder", lambda self, **kw: fixed)
    result = retrieval.main(
        retrieval.Config(model="fixed", data=[root], out=str(tmp_path / "out"), progress=False)
    )
    assert result["language"] == "ko-en" and result["num_queries"] == 10 and result["num_docs"] == 30
    assert result["scores"]["ndcg_at_10"] == pytest.approx(1.0)
