"""`synth.mine --teacher-kind judge`: an LLM grades each row's candidates through the real HTTP fake.

Known answers (synth.testing.fake_grounded): the fake judge rates relevance = answerability =
1 + round(4 * share of the query's words the passage holds), so the teacher's grade (their mean) is
that number; a query holding "garbled" never gets a readable answer. The rows below use test_judge's
four-word query Q and its passages d0..d6, which hold 4, 3, 2, 1, 0, 0, 0 of Q's words.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.candidates import CANDIDATE_ORDER, candidate_texts
from common.rows import ROW_SCHEMA
from synth.dataset.dataset import DATA_FILE, read_rows
from synth.judge.cli import main as judge_main
from synth.judge.config import JudgeConfig
from synth.mining.cli import MineConfig, cli, main
from tests.synth.test_judge import PASSAGES, Q, dataset_dir, make_row

MODEL = "fake-judge"
Q2 = "alpha bravo papa quebec"


def rows() -> list[dict]:
    """Candidates (positive, negative, mined) and the grades the fake gives them."""
    spec = [  # query, positive, negative, mined, grades in candidate order
        (Q, "d0", "d2", ["d1", "d4"], [5, 3, 4, 1]),
        (Q, "d1", None, ["d0", "d3"], [4, 5, 2]),  # (Q, d0) and (Q, d1) again: no new call
        (Q2, "d5", None, ["d2", "d6"], [3, 3, 1]),
        ("garbled alpha bravo", "d2", None, ["d3"], None),  # never graded: the row is left out
    ]
    out = []
    for i, (query, pos, neg, mined, _) in enumerate(spec):
        row = make_row(query, PASSAGES[f"{pos}#0"], f"{pos}#0", call=f"g:{i}:0")
        row["negative"] = PASSAGES[f"{neg}#0"] if neg else None
        row["mined_negatives"] = [PASSAGES[f"{m}#0"] for m in mined]
        out.append(row)
    return out


GRADES = [[5, 3, 4, 1], [4, 5, 2], [3, 3, 1]]
PAIRS = 8  # distinct (query, candidate) pairs of the three gradable rows
CALLS = PAIRS + 2 * 2  # and the garbled row's two pairs, each asked twice (--max-reasks 1)


@pytest.fixture
def setup(tmp_path, fake):
    server = fake()
    plain = [{k: v for k, v in r.items() if k != "mined_negatives"} for r in rows()]
    data = dataset_dir(tmp_path, server, plain)
    schema = ROW_SCHEMA.append(pa.field("mined_negatives", pa.list_(pa.string())))
    pq.write_table(pa.Table.from_pylist(rows(), schema=schema), data / DATA_FILE)  # with its mined negatives
    return server, data


def mine(data: Path, out: Path, server, **overrides) -> int:
    flags = dict(
        data=data,
        out=out,
        teacher=MODEL,
        teacher_kind="judge",
        base_url=server.url,
        timeout=5.0,
        max_reasks=1,
        progress=False,
    )
    return main(MineConfig(**{**flags, **overrides}))


def teacher_of(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())["teacher"]


def test_grades_land_aligned_with_the_candidates(setup, tmp_path):
    server, data = setup
    start = len(server.requests)
    assert mine(data, tmp_path / "scored", server, concurrency=3) == 0
    out = read_rows(tmp_path / "scored")
    assert [r["call"] for r in out] == ["g:0:0", "g:1:0", "g:2:0"]  # the garbled row is left out
    assert [r["teacher_scores"] for r in out] == GRADES
    assert [len(r["teacher_scores"]) for r in out] == [len(candidate_texts(r)) for r in out]
    assert len(server.requests) - start == CALLS
    assert all(r["prompt"].startswith("You judge training data") for r in server.requests[start:])
    t = teacher_of(tmp_path / "scored")
    assert (t["model"], t["kind"], t["score"]) == (MODEL, "judge", "grade 1-5")
    assert t["candidate_order"] == CANDIDATE_ORDER
    assert t["rows"] == 3 and t["rows_dropped_unscored"] == 1
    c = t["calls"]
    assert (c["calls"], c["made_this_run"], c["kept"], c["rejected"]) == (CALLS, CALLS, PAIRS, 4) and c[
        "balanced"
    ]
    assert c["pairs_unscored"] == 2 and c["pairs_from_judge_column"] == 0
    assert json.loads((tmp_path / "scored" / "stats.json").read_text())["rows"] == 3
    card = (tmp_path / "scored" / "README.md").read_text()
    assert "## Teacher scores" in card and "mean\nof its relevance and answerability" in card


def test_a_rerun_asks_nothing_from_the_parts_or_from_the_journal_alone(setup, tmp_path):
    server, data = setup
    out = tmp_path / "scored"
    assert mine(data, out, server) == 0
    first = [r["teacher_scores"] for r in read_rows(out)]
    start = len(server.requests)
    assert mine(data, out, server) == 0 and len(server.requests) == start  # the finished parts
    (part,) = out.glob(".synth/teacher-*/part-*.parquet")
    part.unlink()  # now only the journal knows the answers
    assert mine(data, out, server) == 0 and len(server.requests) == start
    assert [r["teacher_scores"] for r in read_rows(out)] == first
    c = teacher_of(out)["calls"]
    assert (c["made_this_run"], c["answered_from_journal"]) == (0, CALLS)


def test_a_budget_stop_exits_3_and_the_rerun_pays_only_the_rest(setup, tmp_path):
    server, data = setup
    out = tmp_path / "scored"
    start = len(server.requests)
    assert mine(data, out, server, max_calls=3, concurrency=1) == 3
    assert len(server.requests) - start == 3 and {p.name for p in out.iterdir()} == {".synth"}
    assert mine(data, out, server) == 0 and len(server.requests) - start == CALLS
    c = teacher_of(out)["calls"]
    assert (c["made_this_run"], c["answered_from_journal"]) == (CALLS - 3, 3)
    assert [r["teacher_scores"] for r in read_rows(out)] == GRADES


def test_the_inputs_judge_scores_are_reused(setup, tmp_path):
    """synth.judge graded each (query, positive): the teacher asks only the other pairs, and only when
    the grades are its own model's."""
    server, data = setup
    judged = tmp_path / "judged"
    cfg = JudgeConfig(
        data=data,
        out=judged,
        mode="score",
        threshold=1,
        model=MODEL,
        base_url=server.url,
        timeout=5.0,
        max_reasks=1,
        progress=False,
    )
    assert judge_main(cfg) == 0
    assert [json.loads(r["judge"])["relevance"] for r in read_rows(judged)[:3]] == [5, 4, 3]
    start = len(server.requests)
    assert mine(judged, tmp_path / "scored", server) == 0
    assert len(server.requests) - start == CALLS - 3  # the three positives came from the judge column
    assert [r["teacher_scores"] for r in read_rows(tmp_path / "scored")] == GRADES
    assert teacher_of(tmp_path / "scored")["calls"]["pairs_from_judge_column"] == 3
    start = len(server.requests)
    assert mine(judged, tmp_path / "other", server, teacher="another-judge") == 0
    assert len(server.requests) - start == CALLS  # another model's grades are not this teacher's


def test_bad_flags_and_a_rejected_key_get_one_line(setup, tmp_path, capsys, monkeypatch):
    server, data = setup
    base = ["--data", str(data), "--out", str(tmp_path / "o"), "--no-progress"]
    for argv, status, want in [
        (["--teacher-kind", "judge", "--model", "m"], 2, "--teacher-kind judge needs --teacher"),
        (
            ["--teacher", "some/cross-encoder", "--base-url", server.url],
            2,
            "--base-url is for --teacher-kind judge",
        ),
        (["--teacher", "judge"], 2, "give --teacher-kind judge"),
        (
            ["--teacher-kind", "judge", "--teacher", MODEL, "--backend", "anthropic"],
            2,
            "--backend: 'anthropic'",
        ),
        (
            ["--teacher-kind", "judge", "--teacher", MODEL, "--max-calls", "0"],
            2,
            "--max-calls must be at least 1",
        ),
        (
            ["--teacher-kind", "oracle", "--teacher", MODEL],
            2,
            "is not one of auto, cross-encoder, bi-encoder, judge",
        ),
    ]:
        with pytest.raises(SystemExit) as exc:
            cli([*base, *argv])
        lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
        assert exc.value.code == status and len(lines) == 1 and want in lines[0], lines
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-wrong-key-4242424242")
    with pytest.raises(SystemExit) as exc:
        cli([*base, "--teacher-kind", "judge", "--teacher", MODEL, "--base-url", server.url])
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert exc.value.code == 1 and len(lines) == 1 and "API key" in lines[0] and "4242" not in lines[0], lines
