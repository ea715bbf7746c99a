"""`synth.generate` end to end against the loopback fake LLM."""

from __future__ import annotations

import base64
import json
import re

import pyarrow.parquet as pq
import pytest

from synth.dataset.dataset import DATA_FILE, read_rows
from synth.plan.tasks import TASK_TYPES

from .conftest import API_KEY, read_stats, run_generate

PAPER_TYPES = [name for name, t in TASK_TYPES.items() if not t.passages]  # the rest need --corpus


def test_every_task_type_end_to_end(fake, tmp_path):
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=60, task_mix=",".join(f"{t}:1" for t in PAPER_TYPES)) == 0
    rows = read_rows(out)
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60
    assert {r["task_type"] for r in rows} == set(PAPER_TYPES)
    for r in rows:
        spec = TASK_TYPES[r["task_type"]]
        assert r["query"] and r["positive"] and r["language"] in {"en", "de", "ko"}
        assert (r["negative"] is None) == (spec.field("negative") is None)
        assert r["instruction"] == (spec.fixed_instruction or r["instruction"]) and r["instruction"]
        assert re.fullmatch(r"[0-9a-f]{12}", r["template_hash"]) and r["template"] == spec.generate_template
        knobs = json.loads(r["knobs"])
        assert knobs["language"] == r["language"]
        if r["task_type"] == "bitext":
            assert r["language_pair"] == f"{knobs['language']}-{knobs['target_language']}"
    stats = read_stats(out)
    assert stats["status"] == "complete" and stats["rows"] == 60
    assert sum(stats["per_task_type"].values()) == 60 and sum(stats["per_language"].values()) == 60
    assert stats["calls"]["journaled"] == len(server.answered)
    tokens = stats["tokens"]
    assert tokens["completion"] > 0  # gpt-4o-mini's table price: $0.15 in, $0.60 out per 1M
    assert stats["cost_usd"] == pytest.approx(
        (tokens["prompt"] * 0.15 + tokens["completion"] * 0.60) / 1e6, rel=1e-4
    )
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "\nlanguage:\n" in card and "retrieval" in card
    # brainstormed task definitions are reused for about examples_per_task examples each
    asym = [r for r in rows if TASK_TYPES[r["task_type"]].fixed_instruction is None]
    assert len({r["instruction"] for r in asym}) < len(asym)


def test_faulty_answers_are_reasked_counted_and_kept_as_rejects(fake, tmp_path):
    server = fake(
        rate_malformed=0.15,
        rate_fenced=0.15,
        rate_prose=0.15,
        rate_missing_key=0.15,
        rate_429=0.1,
        rate_500=0.1,
        retry_after=0.05,
    )
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=40, task_types="retrieval,sts,classification") == 0
    stats = read_stats(out)
    assert stats["rows"] == 40
    examples = stats["rejects"]["examples"]
    assert examples.get("missing_keys", 0) > 0 and examples.get("invalid_json", 0) > 0
    assert (
        stats["calls"]["retries_this_run"].get("429", 0) > 0
        and stats["calls"]["retries_this_run"].get("500", 0) > 0
    )
    rejects = [json.loads(line) for line in (out / ".synth" / "rejects.jsonl").read_text().splitlines()]
    assert sum(sum(counts.values()) for counts in stats["rejects"].values()) == len(rejects)
    assert all(r["reason"] and r["key"] for r in rejects)
    # fenced and prose-wrapped JSON was accepted, not re-asked
    wrapped = {r["key"] for r in server.answered if r.get("fault") in ("fenced", "prose")}
    assert wrapped and not wrapped & {r["key"] for r in rejects}
    row_calls = {r["call"] for r in read_rows(out)}
    assert wrapped & row_calls


def test_exact_and_near_duplicate_answers_are_removed(fake, tmp_path):
    # long_long and sts prompts come in few shapes, so the fake has earlier answers to copy; over 12
    # seeds this setting gave 5-7 exact and 4-10 near duplicates per run.
    server = fake(rate_exact_dup=0.2, rate_near_dup=0.2)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=50, task_types="long_long,sts") == 0
    stats = read_stats(out)
    assert stats["duplicates"]["exact"] > 0 and stats["duplicates"]["near"] > 0
    rows = read_rows(out)
    assert len(rows) == 50  # it kept going until it had them
    assert len({r["positive"] for r in rows}) == 50 and len({r["query"] for r in rows}) == 50


def test_brainstormed_template_code_reaches_the_next_prompt_literally(fake, tmp_path):
    evil = "Given {{ 7*7 }} and {% if true %}x{% endif %}, retrieve documents about it."
    server = fake(brainstorm_extra=[evil])
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=6, task_types="retrieval", examples_per_task=1) == 0
    prompts = [r["prompt"] for r in server.requests if not r["prompt"].startswith("Brainstorm")]
    assert any(evil in p for p in prompts)
    assert not any("Given 49" in p for p in prompts)
    assert evil in {r["instruction"] for r in read_rows(out)}


def test_rerun_of_a_finished_run_makes_zero_calls_and_same_data(fake, tmp_path):
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=25) == 0
    before = (out / DATA_FILE).read_bytes()
    n = len(server.requests)
    assert run_generate(out, server, num_examples=25) == 0
    assert len(server.requests) == n
    assert (out / DATA_FILE).read_bytes() == before
    assert read_stats(out)["calls"]["made_this_run"] == 0


def test_more_examples_on_a_finished_run_extends_it(fake, tmp_path):
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10) == 0
    first = read_rows(out)
    assert run_generate(out, server, num_examples=20) == 0
    assert read_rows(out)[:10] == first and len(read_rows(out)) == 20


def test_dry_run_makes_no_calls_and_writes_sample_prompts(fake, tmp_path, capsys):
    server = fake()
    out = tmp_path / "plan"
    assert run_generate(out, server, num_examples=500_000, model="gpt-4o", dry_run=True, languages=None) == 0
    assert server.requests == []
    printed = capsys.readouterr().out
    assert "total" in printed and "cost $" in printed
    plan = json.loads((out / ".synth" / "plan" / "plan.json").read_text())
    assert plan["total"]["examples"] == pytest.approx(500_000, rel=0.01)
    assert plan["total"]["generate_calls"] > 500_000  # rejects and duplicates cost calls too
    assert plan["total"]["cost_usd"] > 100 and plan["price_known"]
    assert (
        (out / ".synth" / "plan" / "retrieval_generate.txt")
        .read_text()
        .startswith("Here is a text retrieval task")
    )


def test_max_cost_stops_cleanly_and_a_rerun_goes_on(fake, tmp_path):
    server = fake()
    out = tmp_path / "run"
    status = run_generate(
        out,
        server,
        num_examples=40,
        concurrency=2,
        price_in=1000.0,
        price_out=1000.0,
        max_cost=1.0,
        task_types="sts",
    )
    stats = read_stats(out)
    assert status == 3 and stats["status"] == "stopped:max_cost" and 0 < stats["rows"] < 40
    assert pq.read_table(out / DATA_FILE).num_rows == stats["rows"]
    assert (
        run_generate(out, server, num_examples=40, price_in=1000.0, price_out=1000.0, task_types="sts") == 0
    )
    assert read_stats(out)["rows"] == 40


def test_max_calls_bounds_the_run(fake, tmp_path):
    server = fake(rate_malformed=1.0)  # nothing ever validates
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10, max_calls=15, task_types="sts") == 3
    assert len(server.requests) == 15 and read_stats(out)["status"] == "stopped:max_calls"


def test_api_key_is_in_no_file_the_run_writes(fake, tmp_path):
    server = fake(rate_malformed=0.3)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_changed_settings_on_an_existing_run_are_refused(fake, tmp_path, capsys):
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=5) == 0
    with pytest.raises(SystemExit) as exit_:
        run_generate(out, server, num_examples=5, seed=99)
    assert exit_.value.code == 1
    assert "other settings (seed)" in capsys.readouterr().err


def test_dataset_dir_loads_with_datasets(fake, tmp_path):
    datasets = pytest.importorskip("datasets")
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=12) == 0
    loaded = datasets.load_dataset(str(out), split="train")
    assert loaded.num_rows == 12 and set(loaded.column_names) >= {"id", "query", "positive", "negative"}


def test_credentials_in_the_base_url_are_not_written(fake, tmp_path):
    from synth.run.secrets import redact_url

    assert redact_url("http://user:pw@127.0.0.1:8000/v1?api_key=abc") == "http://127.0.0.1:8000/v1"
    server = fake(api_key=None)  # the URL's user:password becomes basic auth, which replaces the key
    out = tmp_path / "run"
    url = server.url.replace("http://", "http://alice:hunter2@")
    assert run_generate(out, server, num_examples=3, base_url=url, task_types="sts") == 0
    assert server.authorizations == {"Basic " + base64.b64encode(b"alice:hunter2").decode()}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"hunter2" not in data, path


def test_dry_run_plans_a_grounded_run(fake, tmp_path, capsys):
    from .grounded_corpus import write_corpus

    docs = write_corpus(tmp_path / "docs", topics=4)
    server = fake()
    out = tmp_path / "plan"
    assert (
        run_generate(
            out,
            server,
            num_examples=200,
            model="gpt-4o",
            dry_run=True,
            languages="en",
            corpus=docs,
            chunk_tokens=128,
            task_types="grounded_query",
        )
        == 0
    )
    assert server.requests == []
    plan = json.loads((out / ".synth" / "plan" / "plan.json").read_text())
    row = plan["per_task_type"]["grounded_query"]
    assert row["examples"] == 200 and row["generate_calls"] > 200 and row["brainstorm_calls"] == 0
    assert row["prompt_tokens"] > 200 * 100  # every prompt holds a real passage
    assert plan["corpus"]["passages"] > 0 and plan["corpus"]["chunk_tokens"] == 128
    sample = (out / ".synth" / "plan" / "grounded_query_generate.txt").read_text()
    assert "<passage>" in sample and "grounded_query" in capsys.readouterr().out


def test_brainstormed_copies_of_the_prompt_examples_are_counted_by_reason(fake, tmp_path):
    from synth.plan.tasks import TASK_TYPES

    example = TASK_TYPES["retrieval"].brainstorm_examples[1]
    server = fake(brainstorm_extra=[example])
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=6, task_types="retrieval", languages="en") == 0
    assert example not in {r["instruction"] for r in read_rows(out)}
    brainstorms = sum(r["prompt"].startswith("Brainstorm") for r in server.answered)
    assert read_stats(out)["task_definitions"]["rejected"] == {"copied_example": brainstorms}
