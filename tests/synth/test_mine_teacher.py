"""`synth.mine --teacher`: teacher scores of each row's candidates, in common.candidates' order, from a
tiny cross-encoder (built from a config) and from the bag-of-words bi-encoder of test_mine; resumed
after a crash from the parts already written; scoring an already mined dir without mining again."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from common.candidates import CANDIDATE_ORDER, candidate_texts
from synth.dataset.dataset import read_rows, write_json, write_rows
from synth.mining.cli import MineConfig, cli, main
from synth.mining.dirs import row_counts
from synth.mining.teacher import CrossEncoderTeacher, detect_kind
from synth.testing.fake_openai import FakeOpenAI
from tests.synth.conftest import API_KEY, run_generate
from tests.synth.test_mine import ROWS, bow_cosine, hand_rows, words, write_tiny_st
from tests.synth.tiny_teachers import write_cross_encoder_dir


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]+", text)  # what the Whitespace pre-tokenizer makes of it


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """test_mine's dataset dir (a real generator dir, card and stats, with the hand-made rows), made
    once for the module: each test gets a copy."""
    out = tmp_path_factory.mktemp("generated") / "run"
    server = FakeOpenAI(api_key=API_KEY).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENAI_API_KEY", API_KEY)
            assert run_generate(out, server, num_examples=6, languages="en,de", license="cc-by-4.0") == 0
    finally:
        server.stop()
    rows = hand_rows()
    write_rows(out, rows)
    write_json(out / "stats.json", {**json.loads((out / "stats.json").read_text()), **row_counts(rows)})
    return out


@pytest.fixture
def dataset_dir(generated, tmp_path) -> Path:
    return Path(shutil.copytree(generated, tmp_path / "run"))


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory) -> Path:
    """test_mine's bag-of-words sentence-transformers model: cosine = word-count cosine."""
    vocabulary = [
        w for r in hand_rows() for k in ("instruction", "query", "positive", "negative") for w in words(r[k])
    ]
    return write_tiny_st(tmp_path_factory.mktemp("tiny-st"), vocabulary)


@pytest.fixture(scope="module")
def tiny_ce(tmp_path_factory) -> Path:
    vocabulary = [t for r in hand_rows() for k in ("query", "positive", "negative") for t in tokens(r[k])]
    return write_cross_encoder_dir(tmp_path_factory.mktemp("tiny-ce"), vocabulary=vocabulary)


def reference_scores(model_dir: Path, rows: list[dict]) -> list[list[float]]:
    """What the cross-encoder itself says for each row's candidates (raw logits)."""
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(model_dir), device="cpu", activation_fn=torch.nn.Identity())
    out = []
    for r in rows:
        texts = candidate_texts(r)
        out.append(model.predict([(r["query"], t) for t in texts], convert_to_numpy=True).tolist())
    return out


def test_kind_is_detected_from_the_models_files(tiny_ce, tiny_st):
    assert detect_kind(str(tiny_ce)) == "cross-encoder"
    assert detect_kind(str(tiny_st)) == "bi-encoder"


def test_cross_encoder_scores_every_candidate_in_the_stated_order(dataset_dir, tiny_st, tiny_ce):
    out = dataset_dir.with_name("scored")
    cfg = MineConfig(
        data=dataset_dir,
        model=str(tiny_st),
        teacher=str(tiny_ce),
        out=out,
        num_negatives=3,
        progress=False,
        device="cpu",
    )
    assert main(cfg) == 0
    rows = read_rows(out)
    assert all(len(r["teacher_scores"]) == 2 + len(r["mined_negatives"]) for r in rows)  # pos, neg, mined
    want = reference_scores(tiny_ce, rows)
    for row, expected in zip(rows, want, strict=True):
        np.testing.assert_allclose(row["teacher_scores"], expected, rtol=1e-5, atol=1e-5)
    assert len({round(s, 4) for r in rows for s in r["teacher_scores"]}) > 10  # real, varied scores
    t = json.loads((out / "stats.json").read_text())["teacher"]
    assert (t["model"], t["kind"], t["score"], t["candidate_order"]) == (
        str(tiny_ce),
        "cross-encoder",
        "logit",
        CANDIDATE_ORDER,
    )
    assert t["rows"] == len(ROWS) and t["pairs_reused"] == 0 and t["pairs"] == t["pairs_scored_now"]
    card = (out / "README.md").read_text()
    assert "## Hard negatives mined" in card and "## Teacher scores" in card and str(tiny_ce) in card


def test_bi_encoder_teacher_scores_are_cosines(dataset_dir, tiny_st):
    out = dataset_dir.with_name("scored-bi")
    cfg = MineConfig(
        data=dataset_dir,
        model=str(tiny_st),
        teacher=str(tiny_st),
        out=out,
        num_negatives=2,
        progress=False,
        device="cpu",
    )
    assert main(cfg) == 0
    for row in read_rows(out):
        texts = candidate_texts(row)
        np.testing.assert_allclose(
            row["teacher_scores"], [bow_cosine(row["query"], t) for t in texts], atol=1e-5
        )
    t = json.loads((out / "stats.json").read_text())["teacher"]
    assert (t["kind"], t["score"], t["query_format"]) == ("bi-encoder", "cosine", "plain")


def test_a_crashed_teacher_run_resumes_from_its_finished_parts(dataset_dir, tiny_st, tiny_ce, monkeypatch):
    calls: list[int] = []
    crash_at = [2]  # the second part's call dies; afterwards none does
    real = CrossEncoderTeacher.score

    def crashing(self, instructions, queries, texts):
        calls.append(len(texts))
        if len(calls) == crash_at[0]:
            raise RuntimeError("power cut")
        return real(self, instructions, queries, texts)

    out = dataset_dir.with_name("resumed")
    flags = dict(
        data=dataset_dir,
        model=str(tiny_st),
        teacher=str(tiny_ce),
        num_negatives=3,
        teacher_chunk_rows=4,
        progress=False,
        device="cpu",
    )
    monkeypatch.setattr(CrossEncoderTeacher, "score", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        main(MineConfig(out=out, **flags))
    assert {p.name for p in out.iterdir()} == {".synth"}  # only the finished part, no dataset yet
    calls.clear()
    crash_at[0] = 0
    assert main(MineConfig(out=out, **flags)) == 0  # the same command again: OUT holds only state
    assert len(calls) == 3  # 13 rows in parts of 4: part 0 came from the first run
    t = json.loads((out / "stats.json").read_text())["teacher"]
    assert (t["parts"], t["parts_reused"]) == (4, 1) and t["pairs_reused"] > 0
    monkeypatch.setattr(CrossEncoderTeacher, "score", real)
    fresh = dataset_dir.with_name("fresh")
    assert main(MineConfig(out=fresh, **flags)) == 0
    assert [r["teacher_scores"] for r in read_rows(out)] == [r["teacher_scores"] for r in read_rows(fresh)]
    calls.clear()
    monkeypatch.setattr(CrossEncoderTeacher, "score", crashing)
    assert main(MineConfig(out=out, **flags)) == 0 and calls == []  # a finished run rescores nothing


def test_teacher_alone_scores_an_already_mined_dir(dataset_dir, tiny_st, tiny_ce):
    mined = dataset_dir.with_name("mined")
    assert (
        main(
            MineConfig(
                data=dataset_dir, model=str(tiny_st), out=mined, num_negatives=2, progress=False, device="cpu"
            )
        )
        == 0
    )
    cfg = MineConfig(data=mined, teacher=str(tiny_ce), progress=False, device="cpu")
    assert cfg.out == mined.with_name("mined-scored")
    assert main(cfg) == 0
    rows = read_rows(cfg.out)
    assert [r["mined_negatives"] for r in rows] == [r["mined_negatives"] for r in read_rows(mined)]
    for row, expected in zip(rows, reference_scores(tiny_ce, rows), strict=True):
        np.testing.assert_allclose(row["teacher_scores"], expected, rtol=1e-5, atol=1e-5)
    stats = json.loads((cfg.out / "stats.json").read_text())
    assert stats["mining"]["model"] == str(tiny_st) and stats["teacher"]["kind"] == "cross-encoder"
    remined = mined.with_name("remined")  # mining again drops scores that followed the old candidates
    assert main(MineConfig(data=cfg.out, model=str(tiny_st), out=remined, progress=False, device="cpu")) == 0
    assert "teacher_scores" not in read_rows(remined)[0]
    assert "teacher" not in json.loads((remined / "stats.json").read_text())


def test_bad_teacher_flags_get_one_line(dataset_dir, tiny_st, tmp_path, capsys):
    nli = write_cross_encoder_dir(tmp_path / "nli", num_labels=3)
    capsys.readouterr()
    for argv, status, want in [
        (
            ["--data", str(dataset_dir), "--teacher", str(tiny_st), "--teacher-kind", "oracle"],
            2,
            "--teacher-kind",
        ),
        (
            ["--data", str(dataset_dir), "--teacher", str(tiny_st), "--consistency-k", "2"],
            2,
            "--consistency-k",
        ),
        (["--data", str(dataset_dir), "--teacher", str(tmp_path / "nope")], 1, "--teacher"),
        (
            ["--data", str(dataset_dir), "--teacher", str(nli), "--teacher-kind", "cross-encoder"],
            1,
            "3 labels",
        ),
    ]:
        with pytest.raises(SystemExit) as exc:
            cli([*argv, "--no-progress", "--device", "cpu", "--out", str(tmp_path / "o")])
        lines = [
            x for x in capsys.readouterr().err.splitlines() if x.strip() and "Loading weights" not in x
        ]  # a library bar
        assert exc.value.code == status and len(lines) == 1 and want in lines[0], lines
