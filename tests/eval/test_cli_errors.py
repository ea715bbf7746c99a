"""Bad input at the CLI: one line naming the file or flag, exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval import mteb as eval_mteb
from eval import passkey, retrieval, sts
from eval.cli import build_parser, run_main

REPO = Path(__file__).resolve().parents[2]


def _fails(capsys, cfg_cls, main, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        run_main(cfg_cls, main, argv)
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def test_missing_and_bad_files(capsys, tmp_path, our_model_dir, beir_dir):
    m = ["--model", str(our_model_dir), "--cache-dir", ""]
    line = _fails(capsys, retrieval.Config, retrieval.main, m + ["--data", str(tmp_path / "nope")])
    assert line == f"error: --data {tmp_path / 'nope'}: not a directory"
    with (beir_dir / "qrels" / "test.tsv").open("a") as f:
        f.write("q1\tghost-doc\t1\n")
    line = _fails(capsys, retrieval.Config, retrieval.main, m + ["--data", str(beir_dir)])
    assert "test.tsv: 1 document id(s) not in corpus.jsonl" in line
    (beir_dir / "corpus.jsonl").write_text("")
    assert "the corpus is empty" in _fails(
        capsys, retrieval.Config, retrieval.main, m + ["--data", str(beir_dir)]
    )
    line = _fails(capsys, sts.Config, sts.main, m + ["--data", str(tmp_path / "pairs.tsv")])
    assert line == f"error: --data {tmp_path / 'pairs.tsv'}: file not found"


def test_model_that_cannot_be_loaded(capsys, tmp_path, sts_file):
    (tmp_path / "empty").mkdir()
    line = _fails(capsys, sts.Config, sts.main, ["--model", str(tmp_path / "empty"), "--data", str(sts_file)])
    assert line.startswith(f"error: --model {tmp_path / 'empty'}: no synthembed.json")
    assert "or config.json (a Hugging Face model) found" in line
    line = _fails(
        capsys, sts.Config, sts.main, ["--model", str(tmp_path / "a" / "b" / "c"), "--data", str(sts_file)]
    )
    assert "no such directory" in line


def test_mteb_unknown_task(capsys, our_model_dir, tmp_path):
    argv = ["--model", str(our_model_dir), "--tasks", "NoSuchTask", "--out", str(tmp_path)]
    assert "--tasks: unknown task 'NoSuchTask'" in _fails(capsys, eval_mteb.Config, eval_mteb.main, argv)


def test_every_option_has_help():
    for cfg in (retrieval.Config, sts.Config, eval_mteb.Config, passkey.Config):
        parser = build_parser(cfg)  # asserts that every field carries help text
        assert all(a.help for a in parser._actions)


def test_real_process_prints_one_line_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "eval.sts", "--model", str(tmp_path), "--data", str(tmp_path / "x.tsv")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --data {tmp_path / 'x.tsv'}: file not found"


def test_bad_flag_values_and_positions(capsys, st_model_dir, sts_file):
    argv = ["--model", "m", "--data", "d", "--k-values", "ten"]
    assert (
        _fails(capsys, retrieval.Config, retrieval.main, argv)
        == "error: --k-values 'ten': expected comma-separated integers"
    )
    # a BERT-style model has 128 learned positions here: asking for more is an error, not an IndexError
    argv = ["--model", str(st_model_dir), "--data", str(sts_file), "--max-length", "1000", "--cache-dir", ""]
    assert "exceeds the model's 128 positions" in _fails(capsys, sts.Config, sts.main, argv)


def test_out_is_a_json_file_or_a_dir(tmp_path):
    from eval.options import out_file

    assert out_file(str(tmp_path / "a" / "res.json"), "sts.json") == tmp_path / "a" / "res.json"
    assert out_file(str(tmp_path / "b"), "sts.json") == tmp_path / "b" / "sts.json"
    assert (tmp_path / "a").is_dir() and (tmp_path / "b").is_dir()


def test_bad_device(capsys, our_model_dir, sts_file):
    argv = ["--model", str(our_model_dir), "--data", str(sts_file), "--device", "tpu9"]
    assert _fails(capsys, sts.Config, sts.main, argv).startswith("error: --device tpu9: not a device name")


def _nothing_loads(monkeypatch):
    """Fail the test if a model is loaded: a bad --out or --cache-dir is known before the work."""

    def boom(*a, **k):
        raise AssertionError("the model was loaded before --out and --cache-dir were checked")

    monkeypatch.setattr("eval.encoder.load_model", boom)


@pytest.mark.parametrize(
    "make,flags,line",
    [
        (  # 4: --out a file: the scores were printed but not saved, after all the encoding
            lambda tmp: (tmp / "scores.txt").write_text("mine"),
            lambda tmp: ["--out", str(tmp / "scores.txt")],
            "error: --out {tmp}/scores.txt: a file, not a directory",
        ),
        (
            lambda tmp: (tmp / "res.json").mkdir(),
            lambda tmp: ["--out", str(tmp / "res.json")],
            "error: --out {tmp}/res.json: {tmp}/res.json is a directory, not a results file",
        ),
        (  # 6: an AssertionError from eval/batching.py
            lambda tmp: None,
            lambda tmp: ["--batch-size", "0"],
            "error: --batch-size must be at least 1, got 0",
        ),
    ],
    ids=["out-file", "out-json-dir", "batch-size-0"],
)
def test_bad_out_and_batch_size_before_any_work(
    capsys, monkeypatch, tmp_path, our_model_dir, sts_file, make, flags, line
):
    _nothing_loads(monkeypatch)
    make(tmp_path)
    argv = ["--model", str(our_model_dir), "--data", str(sts_file), "--cache-dir", "", *flags(tmp_path)]
    assert _fails(capsys, sts.Config, sts.main, argv) == line.format(tmp=tmp_path)
    if (tmp_path / "scores.txt").exists():
        assert (tmp_path / "scores.txt").read_text() == "mine"


def test_read_only_cache_dir_before_any_work(
    capsys, monkeypatch, tmp_path, our_model_dir, sts_file, read_only_dir
):
    """5: a chained OSError [Errno 30] from eval/cache.py after the encoding."""
    _nothing_loads(monkeypatch)
    cache = read_only_dir / "cache"
    argv = [
        "--model",
        str(our_model_dir),
        "--data",
        str(sts_file),
        "--cache-dir",
        str(cache),
        "--out",
        str(tmp_path),
    ]
    line = _fails(capsys, sts.Config, sts.main, argv)
    assert line.startswith(f"error: --cache-dir {cache}: cannot write in {read_only_dir} (")
    assert line.endswith("); give a writable dir, or --cache-dir '' to turn the cache off")


def test_read_only_out(capsys, monkeypatch, our_model_dir, sts_file, read_only_dir):
    _nothing_loads(monkeypatch)
    argv = [
        "--model",
        str(our_model_dir),
        "--data",
        str(sts_file),
        "--cache-dir",
        "",
        "--out",
        str(read_only_dir),
    ]
    line = _fails(capsys, sts.Config, sts.main, argv)
    assert line.startswith(f"error: --out {read_only_dir}: cannot write in {read_only_dir} (")
