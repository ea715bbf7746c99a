"""eval.bitext: mteb's BitextMining scores, several files in one run, one-line errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from eval import bitext
from eval.cli import run_main
from eval.local_tasks import bitext_task, local_task
from eval.metrics import bitext_scores
from eval.mteb_runner import MtebEncoder
from tests.eval.conftest import sentence
from tests.eval.fixed_encoder import FixedEncoder


def write_bitext(path, langs=("kor", "eng"), n=60, seed=0, second=None):
    """Aligned pairs of made sentences; ``second`` reuses a given second column (a shared English side)."""
    rng = random.Random(seed)
    first = [f"{langs[0]} " + sentence(rng, 3, 10) for _ in range(n)]
    second = second or [f"{langs[1]} " + sentence(rng, 3, 10) for _ in range(n)]
    path.write_text(
        "\t".join(langs) + "\n" + "".join(f"{a}\t{b}\n" for a, b in zip(first, second, strict=True))
    )
    return path, first, second


def bitext_vectors(first, second, noise, dim=12, seed=0):
    """Each translation near its source; ``noise`` sets how often another sentence is nearer."""
    rng = np.random.default_rng(seed)
    table = {}
    for a, b in zip(first, second, strict=True):
        table.setdefault(b, rng.standard_normal(dim))
        table[a] = table[b] + noise * rng.standard_normal(dim)
    return table


def test_worked_example():
    got = bitext_scores([0, 0, 2])
    assert got == pytest.approx({"accuracy": 2 / 3, "recall": 2 / 3, "precision": 0.5, "f1": 5 / 9})


def test_bitext_equals_mteb(tmp_path, monkeypatch):
    """Our scores equal mteb's own BitextMining evaluator (mteb 2.26.24 when written) on the same vectors."""
    import mteb

    path, first, second = write_bitext(tmp_path / "kor-eng.tsv", n=80)
    fixed = FixedEncoder(bitext_vectors(first, second, noise=1.1))
    monkeypatch.setattr(bitext.Config, "load_encoder", lambda self, **kw: fixed)
    ours = bitext.main(bitext.Config(model="fixed", data=[path], out=str(tmp_path / "out"), progress=False))
    (entry,) = ours["files"]
    result = mteb.evaluate(
        MtebEncoder(fixed),
        bitext_task(path, instruction=bitext.BITEXT_INSTRUCTION),
        cache=None,
        show_progress_bar=False,
        co2_tracker=False,
    )
    theirs = result.task_results[0].scores["test"][0]
    assert fixed.instructions == [bitext.BITEXT_INSTRUCTION] * 4  # both sides, in both evaluators
    assert 0.2 < theirs["f1"] < 0.9 and theirs["precision"] < theirs["accuracy"]  # misses and hubs
    for key in ("precision", "recall", "f1", "accuracy", "main_score"):
        assert entry["scores"][key] == pytest.approx(theirs[key], abs=1e-6), key


def test_several_files_share_the_english_side(tmp_path, our_model_dir, capsys):
    """A dir of files: one entry per file, the table, the plot, and the shared side embedded once."""
    data = tmp_path / "tatoeba"
    data.mkdir()
    _, _, eng = write_bitext(data / "kor-eng.tsv", ("kor", "eng"), n=30, seed=1)
    write_bitext(data / "deu-eng.tsv", ("deu", "eng"), n=30, seed=2, second=eng)
    cfg = bitext.Config(
        model=str(our_model_dir), data=[data], out=str(tmp_path / "res"), cache_dir="", progress=False
    )
    result = bitext.main(cfg)
    assert [f["language"] for f in result["files"]] == ["deu-eng", "kor-eng"]  # sorted file names
    assert result["summary"]["texts"] == {"total": 120, "encoded": 90, "cached": 30}
    mean = np.mean([f["scores"]["f1"] for f in result["files"]])
    assert result["summary"]["mean"] == pytest.approx(mean)
    saved = json.loads((tmp_path / "res" / "bitext.json").read_text())
    assert saved["summary"] == result["summary"]
    assert (tmp_path / "res" / "bitext.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "kor-eng: f1=" in out and "mean (2)" in out and "texts: 120 (90 encoded, 30 from the cache)" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kor\n안녕\n", "the header must name two different languages"),
        ("eng\teng\na\tb\nc\td\n", "the header must name two different languages"),
        ("kor\teng\na\tb\nc\n", "pairs.tsv:3: expected 2 tab-separated sentences, got 1 field(s)"),
        ("kor\teng\na\tb\n", "need at least 2 aligned pairs, found 1"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, capsys, content, message):
    (tmp_path / "pairs.tsv").write_text(content)
    with pytest.raises(SystemExit) as exc:  # before any model is loaded: the model path does not exist
        run_main(
            bitext.Config,
            bitext.main,
            ["--model", str(tmp_path / "no-model"), "--data", str(tmp_path / "pairs.tsv")],
        )
    assert exc.value.code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert message in line


def test_a_glob_that_matches_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_main(bitext.Config, bitext.main, ["--model", "m", "--data", str(tmp_path / "*.tsv")])
    assert "the pattern matches nothing" in capsys.readouterr().err


def test_eval_mteb_reads_a_bitext_file_as_a_bitext_task(tmp_path, sts_file):
    path, _, _ = write_bitext(tmp_path / "kor-eng.tsv", n=5)
    assert local_task(str(path)).metadata.type == "BitextMining"
    assert local_task(str(sts_file)).metadata.type == "STS"
