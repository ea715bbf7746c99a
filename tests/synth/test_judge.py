"""The LLM judge (`python -m synth.judge`) through the real HTTP fake: the score threshold, relabelling,
the balance of calls, reruns that pay nothing, kill -9, and one-line errors.

Known answers: the fake judge (synth.testing.fake_grounded) scores relevance = answerability =
1 + round(4 * share of the query's words the passage holds), clarity 4, and picks the candidate
holding most of the query's words. So a query of four words, k of which are in its passage, scores
1 + k. The relabel tests retrieve with the bag-of-words sentence-transformers model of test_mine
(cosine = word-count cosine), so which passages are candidates can be worked out by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from common.rows import Row, row_id
from synth.corpus import Corpus, Passage, save_passages
from synth.dataset.dataset import read_rows, write_json, write_rows
from synth.judge.answers import Invalid, Scores, low_score_reason, parse_best, parse_scores
from synth.judge.cli import main
from synth.judge.config import JudgeConfig
from synth.judge.plan import Verdict, apply_verdicts, plan_relabel
from synth.judge.relabel import candidates, top_k
from synth.mining.dirs import row_counts
from tests.synth.conftest import API_KEY, REPO, run_cli, run_generate
from tests.synth.test_mine import words, write_tiny_st

JUDGE = [sys.executable, "-m", "synth.judge"]
Q = "alpha bravo charlie delta"  # four words; the passages below hold 4, 3, 2, 1, 0 of them
PASSAGES = {
    "d0#0": "alpha bravo charlie delta echo",
    "d1#0": "alpha bravo charlie foxtrot",
    "d2#0": "alpha bravo golf hotel",
    "d3#0": "alpha india juliet kilo",
    "d4#0": "lima mike november oscar",
    "d5#0": "papa quebec romeo sierra",
    "d6#0": "tango uniform victor whiskey",
}


def make_row(
    query: str,
    positive: str,
    passage_id: str | None,
    task_type: str = "grounded_query",
    call: str = "g:0:0",
    language: str = "en",
) -> dict:
    instruction = "Given a question, retrieve passages that answer it."
    return Row(
        id=row_id(task_type, instruction, query, positive, None),
        task_type=task_type,
        instruction=instruction,
        query=query,
        positive=positive,
        negative=None,
        language=language,
        language_pair=None,
        model="fake",
        source="synthetic",
        knobs="{}",
        template="t.j2",
        template_hash="0" * 12,
        call=call,
        passage_id=passage_id,
    ).as_dict()


def score_rows() -> list[dict]:
    """Rows 0-4 score 5, 4, 3, 2, 1; 5 is row 0's pair again (German: one call for both); 6 is not
    grounded; 7 and 8 are one multi-hop answer (judged together, on the passage of 7 first: 5);
    9's judge answers are never readable."""
    rows = [make_row(Q, PASSAGES[f"d{i}#0"], f"d{i}#0", call=f"g:{i}:0") for i in range(5)]
    rows.append(make_row(Q, PASSAGES["d0#0"], "d0#0", call="g:5:0", language="de"))
    rows.append(make_row("zulu yankee", "zulu yankee xray", None, task_type="retrieval", call="g:6:0"))
    multi = "alpha bravo charlie papa"
    rows += [
        make_row(multi, PASSAGES["d1#0"] + " papa", "d1#0", "multi_hop", "g:7:0"),
        make_row(multi, PASSAGES["d5#0"], "d5#0", "multi_hop", "g:7:0"),
    ]
    rows.append(make_row("garbled alpha bravo", PASSAGES["d2#0"], "d2#0", call="g:9:0"))
    return rows


def dataset_dir(root: Path, server, rows: list[dict]) -> Path:
    """A real generator dir (card, stats, plots) whose rows are replaced by `rows`."""
    out = root / "data"
    assert run_generate(out, server, num_examples=4, languages="en", license="cc-by-4.0") == 0
    write_rows(out, rows)
    stats = json.loads((out / "stats.json").read_text())
    write_json(out / "stats.json", {**stats, **row_counts(rows)})
    return out


def judge(data: Path, out: Path, server, **overrides) -> int:
    cfg = dict(
        data=data, out=out, mode="score", base_url=server.url, timeout=5.0, max_reasks=1, progress=False
    )
    return main(JudgeConfig(**{**cfg, **overrides}))


def stats_of(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


@pytest.fixture
def scored(tmp_path, fake):
    server = fake()
    data = dataset_dir(tmp_path, server, score_rows())
    return server, data, tmp_path / "judged"


def test_threshold_drops_exactly_the_rows_scored_below_it_and_records_the_others(scored):
    server, data, out = scored
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    start = len(server.requests)
    assert judge(data, out, server, threshold=3) == 0
    # rows 3 and 4 (scores 2 and 1) are dropped; the garbled row 9 is kept unjudged; row 6 passes through
    kept = dict(zip((0, 1, 2, 5, 6, 7, 8, 9), read_rows(out), strict=True))
    assert all(
        kept[i] == {**row, "judge": kept[i]["judge"]} for i, row in enumerate(score_rows()) if i in kept
    )
    for i, score in {0: 5, 1: 4, 2: 3, 5: 5, 7: 5, 8: 5}.items():
        assert json.loads(kept[i]["judge"]) == {"relevance": score, "answerability": score, "clarity": 4}
    assert kept[6]["judge"] is None and kept[9]["judge"] is None
    j = stats_of(out)["judge"]
    assert j["rows"]["dropped_by_reason"] == {"judge_low_relevance": 2} and j["dropped"] == 2
    assert j["rows"]["passed_through"] == {"not_grounded": 1} and j["rows"]["unjudged"] == {
        "judge_invalid": 1
    }
    assert j["rows"]["scores"]["relevance"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 4}
    stats = stats_of(out)
    assert stats["rows"] == 8 and stats["per_task_type"] == {
        "grounded_query": 5,
        "multi_hop": 2,
        "retrieval": 1,
    }
    # one call per distinct pair (rows 0 and 5 share one), the multi-hop answer one call, the garbled
    # row asked twice (--max-reasks 1): 5 + 1 + 2 calls, and the balance holds
    calls = j["calls"]
    assert calls["calls"] == 8 == len(server.requests) - start
    assert (calls["kept"], calls["dropped"], calls["rejected"], calls["errors"]) == (4, 2, 2, 0)
    assert calls["balanced"] and calls["rejects"] == {"invalid_json": 2}
    assert (
        "## LLM judge" in (out / "README.md").read_text()
        and "judge_low_relevance 2" in (out / "README.md").read_text()
    )
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before  # the input is only read
    rejects = [json.loads(x) for x in (out / ".synth" / "judge_rejects.jsonl").read_text().splitlines()]
    assert sorted(r.get("reason") for r in rejects) == [
        "judge_invalid",
        "judge_low_relevance",
        "judge_low_relevance",
    ]


def test_rerun_with_another_threshold_pays_nothing(scored):
    server, data, out = scored
    assert judge(data, out, server, threshold=3) == 0
    start = len(server.requests)
    assert judge(data, out, server, threshold=5, on_invalid="drop") == 0
    assert len(server.requests) == start  # every answer came from the journal
    j = stats_of(out)["judge"]
    assert j["calls"]["made_this_run"] == 0 and j["calls"]["answered_from_journal"] == 8
    # 5 and 5-again fail only clarity (4); the multi-hop answer too; 4, 3, 2, 1 fail relevance first
    assert j["rows"]["dropped_by_reason"] == {
        "judge_low_relevance": 4,
        "judge_low_clarity": 4,
        "judge_invalid": 1,
    }
    assert [r["call"] for r in read_rows(out)] == ["g:6:0"]
    assert judge(data, out, server, threshold=1) == 0 and len(server.requests) == start
    assert len(read_rows(out)) == 10


def test_balance_with_failed_requests(tmp_path, fake):
    server = fake(rate_hang=0.4, hang_s=4.0)
    data = dataset_dir(tmp_path, fake(), score_rows())
    assert judge(data, tmp_path / "judged", server, timeout=1.5, max_retries=0) == 0
    j = stats_of(tmp_path / "judged")["judge"]
    calls, hung = j["calls"], sum(1 for r in server.requests if r["status"] == "hang")
    assert hung >= 1 and calls["errors"] == hung and calls["errors_by_cause"] == {"timeout": hung}
    assert calls["calls"] == calls["kept"] + calls["dropped"] + calls["rejected"] + calls["errors"]
    assert calls["balanced"] and calls["calls"] == len(server.requests)
    rows = j["rows"]
    assert rows["in"] == rows["out"] + rows["dropped"] and sum(rows["unjudged"].values()) >= 1


# ---- relabel ------------------------------------------------------------------------------------
SEED_WORSE = "wind turbine blades spring"
RELABEL_CORPUS = {
    # Against row 0's query: farm#1 holds all 4 words (cosine 4/sqrt(4*6) = 0.82), farm#3 and farm#4
    # one each (1/sqrt(4*5) = 0.22, 1/sqrt(4*7) = 0.19), the seed farm#0 one of 9 words (0.17): it is
    # 4th, so it takes the 3rd candidate's place, and the judge picks farm#1.
    "farm#0": "wind farm maintenance schedule overview for the whole site",
    "farm#1": "wind turbine blades inspected every spring",
    "farm#2": "solar panels cleaned every autumn",
    "farm#3": "turbine gearbox oil changed yearly",
    "farm#4": "spring cables buried under the access road",
}


def relabel_rows() -> list[dict]:
    rows = [
        make_row(SEED_WORSE, RELABEL_CORPUS["farm#0"], "farm#0", call="g:0:0"),
        make_row(
            "solar panels cleaned autumn", RELABEL_CORPUS["farm#2"], "farm#2", call="g:1:0"
        ),  # seed best
        make_row("zulu yankee", "zulu yankee xray", None, task_type="retrieval", call="g:2:0"),
        make_row("turbine gearbox cables", RELABEL_CORPUS["farm#3"], "farm#3", "multi_hop", "g:3:0"),
    ]
    return rows


@pytest.fixture
def relabel_setup(tmp_path, fake):
    server = fake()
    data = dataset_dir(tmp_path, server, relabel_rows())
    corpus = tmp_path / "corpus" / "passages.jsonl"
    save_passages(
        Corpus(Passage(i, i.split("#")[0], "test", "", t) for i, t in RELABEL_CORPUS.items()), corpus
    )
    vocabulary = [
        w for r in relabel_rows() for k in ("instruction", "query", "positive") for w in words(r[k])
    ]
    model = write_tiny_st(
        tmp_path / "st", vocabulary + [w for t in RELABEL_CORPUS.values() for w in words(t)]
    )
    return server, data, corpus, model


def test_relabel_makes_the_better_candidate_the_positive(relabel_setup, tmp_path):
    server, data, corpus, model = relabel_setup
    out = tmp_path / "judged"
    assert (
        judge(data, out, server, mode="relabel", corpus=corpus, embed_model=str(model), top_k=3, device="cpu")
        == 0
    )
    rows = {r["call"]: r for r in read_rows(out)}
    moved = rows["g:0:0"]
    assert moved["positive"] == RELABEL_CORPUS["farm#1"] and moved["passage_id"] == "farm#1"
    assert moved["id"] == row_id(
        "grounded_query", moved["instruction"], SEED_WORSE, RELABEL_CORPUS["farm#1"], None
    )
    pick = json.loads(moved["judge"])
    assert pick["seed"] == "farm#0" and pick["relabelled"] is True and len(pick["candidates"]) == 3
    assert (
        sorted(pick["candidates"]) == ["farm#0", "farm#1", "farm#3"]
        and pick["candidates"][pick["best"] - 1] == "farm#1"
    )
    kept = json.loads(rows["g:1:0"]["judge"])
    assert kept["relabelled"] is False and rows["g:1:0"]["passage_id"] == "farm#2"
    assert rows["g:2:0"]["judge"] is None and rows["g:3:0"]["judge"] is None  # synthetic and multi-hop pass
    j = stats_of(out)["judge"]
    assert j["relabelled"] == 1 and j["rows"]["passed_through"] == {"not_grounded": 1, "multi_passage": 1}
    assert j["calls"]["calls"] == j["calls"]["kept"] == 2 and j["calls"]["balanced"]
    assert j["retrieval"]["seed_in_top_k"] == 1  # row 0's seed ranks below 3 and was put in
    # A rerun shows the judge the same prompts from the retrieval cache: no call, and no model either.
    start = len(server.requests)
    for f in model.rglob("*.safetensors"):
        f.unlink()
    assert (
        judge(data, out, server, mode="relabel", corpus=corpus, embed_model=str(model), top_k=3, device="cpu")
        == 0
    )
    assert len(server.requests) == start and read_rows(out) == list(rows.values())


def test_relabel_with_a_corpus_that_lacks_the_rows_passages_is_one_line(relabel_setup, tmp_path):
    server, data, _, model = relabel_setup
    other = save_passages(
        Corpus([Passage("x#0", "x", "test", "", "unrelated text")]), tmp_path / "other.jsonl"
    )
    result = run_cli(
        JUDGE
        + [
            "--data",
            str(data),
            "--out",
            str(tmp_path / "j"),
            "--mode",
            "relabel",
            "--corpus",
            str(other),
            "--embed-model",
            str(model),
            "--base-url",
            server.url,
            "--no-progress",
        ]
    )
    assert result.returncode == 1 and "none of the 2 grounded rows' passage ids is in" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "j").exists()


# ---- errors, crashes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,message",
    [
        (["--mode", "relabel", "--embed-model", "m"], "--mode relabel needs --corpus"),
        (["--mode", "relabel", "--corpus", "c.jsonl"], "--mode relabel needs --embed-model"),
        (["--mode", "score", "--threshold", "6"], "--threshold must be an integer in 1..5, got 6"),
        (["--mode", "score", "--threshold", "0"], "--threshold must be an integer in 1..5, got 0"),
        (["--mode", "score", "--threshold", "high"], "argument --threshold: invalid int value: 'high'"),
        (["--mode", "grade"], "argument --mode: invalid choice: 'grade'"),
        (["--mode", "score", "--backend", "anthropic"], "--backend: 'anthropic' is not one of"),
    ],
)
def test_bad_flags_are_one_line(args, message, tmp_path):
    result = run_cli(JUDGE + ["--data", str(tmp_path), "--out", str(tmp_path / "o"), *args])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_data_errors_are_one_line(tmp_path, fake):
    server = fake()
    ungrounded = dataset_dir(
        tmp_path, server, [make_row("zulu yankee", "zulu yankee xray", None, "retrieval")]
    )
    base = ["--mode", "score", "--base-url", server.url, "--no-progress"]
    cases = [
        (
            ["--data", str(ungrounded), "--out", str(tmp_path / "o")],
            "has a passage_id, so there is nothing to judge",
        ),
        (["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], "is not a directory"),
        (["--data", str(ungrounded), "--out", str(ungrounded / "inner")], "contain one another"),
    ]
    for args, message in cases:
        result = run_cli(JUDGE + args + base)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    wrong = "sk-this-is-the-wrong-key-42424242"
    grounded = dataset_dir(tmp_path / "g", server, score_rows())
    result = run_cli(JUDGE + ["--data", str(grounded), "--out", str(tmp_path / "k"), *base], env_key=wrong)
    assert result.returncode == 1 and "rejected the API key" in result.stderr and wrong not in result.stderr


def test_kill_9_mid_run_then_rerun_pays_for_no_answered_call(tmp_path, fake):
    server = fake(latency=0.1)
    rows = [
        make_row(f"alpha bravo topic{i}", f"alpha topic{i} text", f"d{i}#0", call=f"g:{i}:0")
        for i in range(60)
    ]
    data = dataset_dir(tmp_path, fake(), rows)
    out = tmp_path / "judged"
    cmd = JUDGE + [
        "--data",
        str(data),
        "--out",
        str(out),
        "--mode",
        "score",
        "--base-url",
        server.url,
        "--concurrency",
        "4",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        env=dict(os.environ, OPENAI_API_KEY=API_KEY),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = out / ".synth" / "judge_journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 20):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    answered = {json.loads(x)["k"] for x in journal.read_text().splitlines()[1:]}
    assert len(answered) >= 19 and not (out / "stats.json").exists()
    start = len(server.requests)
    result = run_cli(cmd)
    assert result.returncode == 0, result.stderr
    asked_again = {r["key"] for r in server.requests[start:]}
    assert not asked_again & answered and len(asked_again) == 60 - len(answered)
    assert len(read_rows(out)) == 60 and stats_of(out)["judge"]["calls"]["answered_from_journal"] == len(
        answered
    )


def test_budget_stop_exits_3_writes_nothing_and_a_rerun_finishes(scored):
    server, data, out = scored
    start = len(server.requests)
    assert judge(data, out, server, max_calls=3, concurrency=1) == 3
    assert not (out / "stats.json").exists() and len(server.requests) - start == 3
    assert judge(data, out, server) == 0 and stats_of(out)["judge"]["calls"]["answered_from_journal"] == 3


# ---- the pieces ---------------------------------------------------------------------------------
def test_answers_and_the_drop_rule():
    assert (
        parse_scores('Sure:\n```json\n{"relevance": 4, "answerability": 3, "clarity": 5}\n```').clarity == 5
    )
    for bad, reason in [
        ('{"relevance": 4, "answerability": 3}', "bad_scores"),
        ('{"relevance": 6, "answerability": 3, "clarity": 5}', "bad_scores"),
        ('{"relevance": "4", "answerability": 3, "clarity": 5}', "bad_scores"),
        ('{"relevance": true, "answerability": 3, "clarity": 5}', "bad_scores"),
        ('{"relevance": 4, "answerability": 3, "clarity": 5, "why": "x"}', "bad_scores"),
        ("no idea", "no_json"),
    ]:
        with pytest.raises(Invalid) as err:
            parse_scores(bad)
        assert err.value.reason == reason
    assert parse_best('{"best": 3}', 3) == 3
    for bad in ('{"best": 4}', '{"best": 0}', '{"best": 1.0}'):
        with pytest.raises(Invalid, match="bad_best"):
            parse_best(bad, 3)
    scores = Scores(relevance=4, answerability=2, clarity=1)
    assert (
        low_score_reason(scores, 3) == "judge_low_answerability"
        and low_score_reason(scores, 2) == "judge_low_clarity"
    )
    assert low_score_reason(scores, 1) is None


def test_top_k_and_candidates():
    docs = np.eye(4, dtype=np.float32)
    queries = np.array([[0.1, 0.9, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    assert top_k(queries, docs, 2, block=1).tolist() == [[1, 2], [0, 1]]  # ties (0.0, 0.0) by index
    assert sorted(candidates(["a", "b", "c"], "b", 3, 0)) == ["a", "b", "c"]
    assert sorted(candidates(["a", "b", "c"], "z", 3, 0)) == ["a", "b", "z"]
    assert candidates(["a", "b", "c"], "z", 3, 0) == candidates(
        ["b", "a", "c"], "z", 3, 0
    )  # order of the set


def test_relabel_verdicts_merge_rows_that_end_up_the_same_and_clean_mined_negatives():
    """Two seeds of one query, one pick: the second row would repeat the first, so it is dropped; a
    mined negative that is the new positive leaves the row's negatives."""
    rows = [
        make_row(Q, PASSAGES["d1#0"], "d1#0", call="g:0:0"),
        make_row(Q, PASSAGES["d2#0"], "d2#0", call="g:1:0"),
    ]
    rows[0]["mined_negatives"] = [PASSAGES["d0#0"], PASSAGES["d3#0"]]
    ids, texts = ["d2#0", "d0#0", "d1#0"], [PASSAGES[i] for i in ("d2#0", "d0#0", "d1#0")]
    items = plan_relabel(rows, {0: (ids, texts), 1: (ids, texts)})
    assert len(items) == 1 and items[0].rows == [0, 1]  # one prompt, asked once
    applied = apply_verdicts(
        rows, "relabel", items, {}, {items[0].stem: Verdict(2)}, threshold=3, on_invalid="keep"
    )
    (row,) = applied.rows
    assert row["passage_id"] == "d0#0" and row["mined_negatives"] == [PASSAGES["d3#0"]]
    assert applied.counts["relabelled"] == 2 and applied.counts["dropped_by_reason"] == {"judge_duplicate": 1}
