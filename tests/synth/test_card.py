"""The data card: its numbers are stats.json's, its metadata parses, its plots exist, its CLI is safe."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard

from synth.card.__main__ import cli
from synth.card.render import write_card
from synth.card.values import card_languages, example_rows
from synth.dataset.dataset import write_json
from synth.generate import main
from synth.run.config import GenerateConfig
from synth.testing.fake_openai import FakeOpenAI

from .conftest import API_KEY, read_stats, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LANGUAGE_CHECK = {"detector": "py3langid 0.4.0", "unjudged_languages": ["sd", "su", "yi"],
                  "wrong_language": {"de": 3, "ko": 1}}  # fmt: skip
DECONTAMINATION = {"sets": ["beir/scifact", "sts/test.tsv"], "ngram_words": 13, "dropped": 5}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """One real run (with malformed answers, so the rejects table has numbers), shared by the tests."""
    out = tmp_path_factory.mktemp("card") / "run"
    with (
        pytest.MonkeyPatch.context() as mp,
        FakeOpenAI(api_key=API_KEY, rate_malformed=0.15, rate_missing_key=0.15) as server,
    ):
        mp.setenv("OPENAI_API_KEY", API_KEY)
        cfg = GenerateConfig(
            out=out,
            num_examples=24,
            languages="en,de,ko",
            progress=False,
            timeout=5.0,
            base_url=server.url,
            license="cc-by-4.0",
        )
        assert main(cfg) == 0
    return out


@pytest.fixture
def run(generated, tmp_path) -> Path:
    """A private copy of the shared run, with the lead's language-check and decontamination keys and
    distinct nonzero duplicate counts (the fake's duplicate faults are too rare in 24 rows to rely on)."""
    out = tmp_path / "run"
    shutil.copytree(generated, out)
    stats = read_stats(out)
    stats.update(
        language_check=LANGUAGE_CHECK, decontamination=DECONTAMINATION, duplicates={"exact": 7, "near": 2}
    )
    next(iter(stats["brainstorm"].values()))["duplicates"] = {"exact": 3, "near": 1}
    write_json(out / "stats.json", stats)
    write_card(out)
    return out


def front_matter(card: str) -> dict:
    _, meta, _ = card.split("---\n", 2)
    return yaml.safe_load(meta)


def table_after(card: str, heading: str) -> list[list[str]]:
    """Cells of the first markdown table after `heading`, header and separator lines dropped."""
    lines = card[card.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def header_after(card: str, heading: str) -> list[str]:
    line = next(line for line in card[card.index(heading) :].splitlines() if line.startswith("|"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def code(cell: str) -> str:
    return cell.split(" ")[0]  # "de (German)" -> "de"


def test_card_tables_equal_stats_json(run):
    card, stats = (run / "README.md").read_text(), read_stats(run)
    assert len(stats["rejects"]["examples"]) >= 2, "the fake's malformed answers were not hit"
    assert {r[0]: int(r[1]) for r in table_after(card, "## Rows per task type\n")} == stats["per_task_type"]
    assert {code(r[0]): int(r[1]) for r in table_after(card, "## Rows per language")} == stats["per_language"]
    pairs = table_after(card, "Bitext rows per language pair")
    assert {r[0]: int(r[1]) for r in pairs} == stats["per_language_pair"]

    heading = "## Rows per task type and language"
    task_types = header_after(card, heading)[1:-1]
    cells = table_after(card, heading)
    matrix = {
        t: {code(r[0]): int(r[1 + i]) for r in cells[:-1] if int(r[1 + i])} for i, t in enumerate(task_types)
    }
    assert matrix == stats["per_task_type_language"]
    assert cells[-1][0] == "total" and int(cells[-1][-1]) == stats["rows"]
    assert all(int(r[-1]) == sum(map(int, r[1:-1])) for r in cells)

    removed = {r[0]: int(r[1]) for r in table_after(card, "## What was thrown away")}
    assert removed["exact duplicates (normalised text)"] == stats["duplicates"]["exact"]
    assert removed["near duplicates (MinHash LSH)"] == stats["duplicates"]["near"]
    assert removed["examples rejected after all re-asks"] == stats["rejected_examples"]
    assert removed["rows dropped by decontamination"] == DECONTAMINATION["dropped"]
    brainstorm_dups = sum(sum(p["duplicates"].values()) for p in stats["brainstorm"].values())
    assert removed["duplicate brainstormed tasks"] == brainstorm_dups
    rejected = {}
    for step, reason, n in table_after(card, "Rejected LLM answers by reason"):
        rejected.setdefault(step, {})[reason] = int(n)
    assert rejected == {step: counts for step, counts in stats["rejects"].items() if counts}
    pools = {r[0]: [int(x) for x in r[1:]] for r in table_after(card, "Brainstormed task pools")}
    assert pools == {
        t: [
            p["calls"],
            p["tasks"],
            p["duplicates"]["exact"],
            p["duplicates"]["near"],
            p["examples_on"]["reused"],
            p["examples_on"]["fallback"],
        ]
        for t, p in stats["brainstorm"].items()
    }
    calls = {
        r[0]: [int(x) if x != "-" else None for x in r[1:]]
        for r in table_after(card, "Where every LLM call went")
    }
    a = stats["accounting"]
    assert calls["examples"] == [
        a["examples"][k]
        for k in ("calls", "kept", "held", "duplicates", "decontaminated", "rejected", "errors")
    ]
    assert calls["brainstorm"][:2] == [a["brainstorm"]["calls"], a["brainstorm"]["useful"]]
    assert sum(c for row in calls.values() for c in row[1:] if c) == a["calls"] == stats["calls"]["journaled"]

    wrong = {code(r[0]): int(r[1]) for r in table_after(card, "### Language check")}
    assert wrong == LANGUAGE_CHECK["wrong_language"]
    assert "sd (Sindhi), su (Sundanese), yi (Yiddish)" in card and "py3langid 0.4.0" in card
    assert all(f"- `{name}`" in card for name in DECONTAMINATION["sets"])

    made = {r[0]: r[1] for r in table_after(card, "## How it was made")}
    g = stats["generator"]
    assert made["generator model"] == f"`{g['model']}`" and made["generator backend"] == g["backend"]
    assert float(made["temperature"]) == g["temperature"] and float(made["top_p"]) == g["top_p"]
    assert (
        int(made["seed"]) == g["seed"]
        and int(made["examples per brainstormed task"]) == g["examples_per_task"]
    )
    assert (
        made["tokens (prompt / completion)"]
        == f"{stats['tokens']['prompt']} / {stats['tokens']['completion']}"
    )
    assert (
        made["LLM calls (journaled / failed)"]
        == f"{stats['calls']['journaled']} / {stats['calls']['failed']}"
    )
    assert float(made["cost (USD)"]) == pytest.approx(stats["cost_usd"], abs=5e-5)
    assert made[f"rows written by `{g['model']}`"] == str(stats["rows"])  # one generator model in this run
    hashes = {r[0].strip("`"): r[1].strip("`") for r in table_after(card, "Prompt templates")}
    from synth.plan.tasks import TASK_TYPES

    used = {
        t for n in g["task_mix"] for t in (TASK_TYPES[n].generate_template, TASK_TYPES[n].brainstorm_template)
    }
    assert hashes == {t: h for t, h in stats["templates"].items() if t in used}  # the run's templates
    assert "de 33.3%, en 33.3%, ko 33.3%" in card  # language weights, normalised


def test_front_matter_parses_and_names_every_language(run):
    card = DatasetCard.load(run / "README.md")
    stats = read_stats(run)
    present = set(stats["per_language"]) | {c for p in stats["per_language_pair"] for c in p.split("-")}
    assert set(card.data.language) == present
    assert card.data.license == "cc-by-4.0"  # from --license of the run, kept by the re-render
    assert card.data.size_categories == ["n<1K"]
    assert set(card.data.task_categories) >= {"sentence-similarity", "text-retrieval"}
    assert card.data.configs == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}
    ]
    assert "translation" in card.data.multilinguality


def test_language_codes_stay_strings_in_yaml(run):
    """Norwegian's code `no` is the boolean false to a YAML 1.1 parser (PyYAML) unless quoted."""
    stats = read_stats(run)
    stats["per_language_pair"]["en-no"] = 1
    write_json(run / "stats.json", stats)
    write_card(run, "apache-2.0")
    card = DatasetCard.load(run / "README.md")
    assert "no" in card.data.language and False not in card.data.language
    assert card.data.license == "apache-2.0"


def test_bitext_target_language_is_in_metadata(tmp_path):
    """A language that only occurs as the second language of a bitext pair is still listed."""
    stats = {
        "per_language": {"en": 1},
        "per_task_type_language": {"bitext": {"en": 1}},
        "per_language_pair": {"en-sw": 1},
    }
    assert card_languages(stats) == ["en", "sw"]


def test_plots_are_pngs_linked_relatively(run):
    card = (run / "README.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card)
    assert links == ["plots/rows_per_language.png", "plots/length_per_task_type.png"]
    for link in links:
        assert (run / link).read_bytes()[:8] == PNG_MAGIC and (run / link).stat().st_size > 5000


def test_lengths_table_matches_rows(run):
    import statistics

    import pyarrow.parquet as pq

    from synth.checks.text import count_words

    rows = pq.read_table(next((run / "data").glob("*.parquet"))).to_pylist()
    lengths = {r[0]: r for r in table_after((run / "README.md").read_text(), "## Lengths")}
    for task_type in {r["task_type"] for r in rows}:
        words = [count_words(r["query"], r["language"]) for r in rows if r["task_type"] == task_type]
        assert float(lengths[task_type][1].split(" / ")[1]) == round(float(statistics.median(words)), 1)


def test_old_stats_without_new_keys_render(run):
    stats = read_stats(run)
    for key in ("language_check", "decontamination", "brainstorm", "price_per_million", "elapsed_s"):
        stats.pop(key)
    write_json(run / "stats.json", stats)
    card = (write_card(run)).read_text()
    assert "No language check was recorded" in card and "Not decontaminated" in card
    assert "Brainstormed task pools" not in card
    stats["language_check"], stats["decontamination"] = {"enabled": False}, {"sets": [], "dropped": 0}
    write_json(run / "stats.json", stats)
    card = write_card(run).read_text()
    assert "--no-language-check" in card and "Not decontaminated" in card


def test_card_never_contains_a_secret(run, monkeypatch):
    hf_token = "hf_SeCrEtTOKEN0123456789abcdef"
    monkeypatch.setenv("HF_TOKEN", hf_token)
    stats = read_stats(run)
    stats["generator"]["model"] = f"proxy-{API_KEY}"  # secrets pasted where they do not belong
    stats["generator"]["base_url"] = f"http://user:{API_KEY}@127.0.0.1:1/v1?token={hf_token}"
    stats["decontamination"]["sets"] = [f"https://x:{hf_token}@example.org/beir.zip"]
    write_json(run / "stats.json", stats)
    card = write_card(run).read_text()
    assert API_KEY not in card and hf_token not in card and "0123456789abcdef" not in card
    assert "***" in card  # redacted where they were pasted, not silently dropped


def test_cli_rerenders_card_and_plots(run):
    for path in ("README.md", "plots/rows_per_language.png", "plots/length_per_task_type.png"):
        (run / path).unlink()
    result = run_cli([sys.executable, "-m", "synth.card", str(run), "--license", "mit"])
    assert result.returncode == 0, result.stderr
    assert DatasetCard.load(run / "README.md").data.license == "mit"
    assert (run / "plots/rows_per_language.png").read_bytes()[:8] == PNG_MAGIC
    assert cli([str(run)]) == 0  # in-process, no --license: the card's license is kept
    assert DatasetCard.load(run / "README.md").data.license == "mit"
    assert not list(run.rglob("*.tmp"))


def test_cli_fails_cleanly_on_a_dir_that_is_not_a_dataset(run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli([sys.executable, "-m", "synth.card", str(empty)])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "no stats.json" in result.stderr

    card_before = (run / "README.md").read_bytes()
    (run / "stats.json").write_text("{not json")
    assert cli([str(run)]) == 1
    assert (run / "README.md").read_bytes() == card_before  # nothing written on a bad dir
    (run / "stats.json").write_text(json.dumps({"rows": 1}))
    assert cli([str(run)]) == 1
    assert cli([str(tmp_path / "missing")]) == 1


def test_load_dataset_reads_the_dir_with_plots(run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    assert (run / "plots").is_dir() and (run / ".synth").is_dir()
    ds = datasets.load_dataset(str(run), split="train", cache_dir=str(tmp_path / "cache"))
    stats = read_stats(run)
    assert ds.num_rows == stats["rows"]
    assert {"query", "positive", "negative", "task_type", "language"} <= set(ds.column_names)


def test_generate_still_writes_card_with_plots(generated):
    """synth.generate calls render_card(out, stats, license): the card it wrote links existing plots."""
    card = (generated / "README.md").read_text()
    assert "plots/rows_per_language.png" in card and (generated / "plots/rows_per_language.png").is_file()
    assert os.path.getsize(generated / "plots/length_per_task_type.png") > 0


def test_card_of_a_run_stopped_before_any_row(run):
    from synth.dataset.dataset import write_rows

    write_rows(run, [])
    stats = read_stats(run)
    stats.update(
        rows=0,
        status="stopped:max_cost",
        per_task_type={},
        per_language={},
        per_language_pair={},
        per_task_type_language={},
    )
    write_json(run / "stats.json", stats)
    card = write_card(run).read_text()
    assert DatasetCard.load(run / "README.md").data.language == ["de", "en", "ko"]  # the languages asked for
    assert "**stopped:max_cost**: 0 rows of 24" in card
    assert (run / "plots/length_per_task_type.png").read_bytes()[:8] == PNG_MAGIC


def test_examples_show_one_row_per_task_type_inside_fences(run):

    card = (run / "README.md").read_text()
    section = card[card.index("## Examples") : card.index("## Use")]
    assert re.findall(r"^### (\w+) \(", section, re.M) == sorted(read_stats(run)["per_task_type"])

    evil = {
        "task_type": "sts",
        "language": "en",
        "language_pair": None,
        "instruction": "x",
        "query": "```\n# Injected heading\n```",
        "positive": "p" * 1000,
        "negative": None,
    }
    example = example_rows([evil])[0]
    assert example["query"].startswith("````\n") and example["query"].endswith(
        "\n````"
    )  # outlasts the text's fence
    assert example["negative"] is None and example["positive"].endswith("[...]\n```")
    assert len(example["positive"]) < 400


def test_a_large_dataset_is_sampled_for_lengths_and_counted_whole_for_models(run):
    from synth.card.render import model_counts, read_text_columns
    from synth.dataset.dataset import read_rows

    rows = read_rows(run)
    sample = read_text_columns(run, most=5)  # as a card of 5 x 24 rows would read it
    step = -(-len(rows) // 5)
    firsts = {r["task_type"]: r for r in reversed(rows)}
    assert len(sample) <= 5 + len(firsts) and sample[0] == {c: rows[0][c] for c in sample[0]}
    assert {r["query"] for r in sample} >= {rows[i]["query"] for i in range(0, len(rows), step)}
    assert {r["query"] for r in sample} >= {r["query"] for r in firsts.values()}  # every type's first example
    assert read_text_columns(run) == [{c: r[c] for c in sample[0]} for r in rows]  # a small set: every row
    assert model_counts(run) == [(rows[0]["model"], len(rows))]


def test_the_card_of_a_grounded_run_says_what_it_did(tmp_path):
    from .grounded_corpus import write_corpus

    docs = write_corpus(tmp_path / "docs", topics=5)
    out = tmp_path / "run"
    with (
        pytest.MonkeyPatch.context() as mp,
        FakeOpenAI(api_key=API_KEY, rate_short_negative=0.5) as server,
    ):
        mp.setenv("OPENAI_API_KEY", API_KEY)
        for n in (4, 10):  # a resume: the card's time is the whole run's
            cfg = GenerateConfig(
                out=out,
                num_examples=n,
                languages="en",
                progress=False,
                timeout=5.0,
                base_url=server.url,
                corpus=docs,
                chunk_tokens=128,
            )
            assert main(cfg) == 0
            if n == 4:
                first = read_stats(out)["elapsed_s"]
    stats = read_stats(out)
    card = (out / "README.md").read_text()
    assert "brainstorm" not in card.lower()  # no step 1, no pools, no examples per brainstormed task
    assert "grounded_query" in card[: card.index("## Rows per task type")]
    made = {r[0]: r[1] for r in table_after(card, "## How it was made")}
    corpus = stats["corpus"]
    assert (
        made["corpus"]
        == f"`docs`: {corpus['files']} files, {corpus['documents']} documents, {corpus['passages']} passages"
    )
    assert corpus["files"] == corpus["documents"] == 5 and made["chunking"] == "at most 128 tokens a passage"
    used = len({r["passage_id"] for r in read_rows_of(out)})
    assert int(made["passages used (rows' positives)"]) == used == corpus["passages_used"] > 0
    assert stats["runs"] == 2 and stats["elapsed_total_s"] == pytest.approx(
        first + stats["elapsed_s"], abs=0.02
    )
    assert made["time of the whole run, over 2 runs (s)"] == f"{stats['elapsed_total_s']}"
    removed = {r[0]: r[1] for r in table_after(card, "## What was thrown away")}
    dropped = stats["negatives_dropped"]["grounded_query"]["too_short"]
    assert int(removed["written negatives dropped, row kept: too_short"]) == dropped > 0


def read_rows_of(out: Path) -> list[dict]:
    from synth.dataset.dataset import read_rows

    return read_rows(out)


def test_a_corrupt_parquet_file_is_one_line_naming_it(run, capsys):
    """Was pyarrow.lib.ArrowInvalid: Parquet magic bytes not found, as a traceback."""
    bad = run / "data" / "train-00001-of-00001.parquet"
    bad.write_bytes(b"not parquet at all")
    card = (run / "README.md").read_text()
    assert cli([str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"synth.card: error: {bad}: not a readable parquet file (")
    assert "Parquet magic bytes not found" in err[0]
    assert (run / "README.md").read_text() == card
