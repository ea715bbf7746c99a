"""`python -m synth.pairs`: weak pairs from document structure (rules worked by hand), rows of the
common.rows contract filtered like synthetic rows (language, dedup, decontamination) with every drop
counted, the card, one-line errors, and E5's consistency filter (`synth.mine --consistency-k`) on them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.rows import ROW_SCHEMA
from synth.card.render import write_card
from synth.corpus import Document
from synth.dataset.dataset import DATA_FILE, read_rows
from synth.mining.cli import MineConfig
from synth.mining.cli import main as mine_main
from synth.pairs import PairsConfig, cli, main
from synth.structure.blocks import Block, parse_blocks
from synth.structure.rules import DEFAULT_RULES, INSTRUCTIONS, Limits, document_pairs, first_sentence
from tests.synth.test_mine import words, write_tiny_st

GUIDE = """\
Installing the tool
===================

The tool installs with pip on any recent Python version. It needs no compiler and no network access
after the download.

   pip install tool

Configuration files
-------------------

Settings live in a TOML file beside the project, read once at start.

How do I change the cache folder?
---------------------------------

Set the cache key in the settings file to any folder you can write to.

Q: Does it run on Windows?

A: Yes, on Windows ten and later, with the same commands as elsewhere.
"""


def test_blocks_read_setext_and_atx_headings_code_and_unwrapped_prose():
    blocks = parse_blocks(GUIDE)
    assert blocks[0] == Block("heading", "Installing the tool", 1)
    assert blocks[1].kind == "prose" and "\n" not in blocks[1].text  # hard wraps joined
    assert blocks[2] == Block("code", "   pip install tool")
    assert blocks[3] == Block("heading", "Configuration files", 2)
    assert parse_blocks("# Top\n\ntext\n\n## Sub ##\n\n```\ncode\n\nmore\n```\n") == [
        Block("heading", "Top", 1),
        Block("prose", "text"),
        Block("heading", "Sub", 2),
        Block("code", "```\ncode\n\nmore\n```"),
    ]


def test_rules_find_each_kind_of_pair_by_hand():
    pairs = list(
        document_pairs(Document("guide.txt", "guide.txt", "", GUIDE), limits=Limits(min_positive_words=5))
    )
    got = [(p.rule, p.query, p.positive) for p in pairs]
    body = (
        "The tool installs with pip on any recent Python version. It needs no compiler and no network "
        "access after the download."
    )
    assert got[0][:2] == ("title_body", "Installing the tool") and got[0][2].startswith(
        body + "\n\npip install tool\n\nConfiguration files\n\n"
    )
    assert (
        "heading_section",
        "Configuration files",  # up to the next heading of its level
        "Settings live in a TOML file beside the project, read once at start.",
    ) in got
    assert (
        "question_answer",
        "How do I change the cache folder?",
        "Set the cache key in the settings file to any folder you can write to.",
    ) in got
    assert (
        "question_answer",
        "Does it run on Windows?",
        "Yes, on Windows ten and later, with the same commands as elsewhere.",
    ) in got
    assert (
        "first_sentence",
        "The tool installs with pip on any recent Python version.",
        "It needs no compiler and no network access after the download.",
    ) in got
    assert [p.n for p in pairs] == list(range(len(pairs)))
    assert first_sentence("See e.g. the FAQ. Then run it.") == ("See e.g. the FAQ.", "Then run it.")
    assert first_sentence("One sentence only.") == ("", "One sentence only.")
    only = document_pairs(Document("g", "g", "", GUIDE), ("title_body",), Limits(min_positive_words=5))
    assert [p.rule for p in only] == ["title_body"]


GERMAN = (
    "Die Installation\n================\n\nDas Werkzeug wird mit pip auf jeder neueren Python-Version "
    "installiert und braucht nach dem Herunterladen keinen Netzzugang mehr.\n"
)
SHARED = "The quick brown fox jumps over the lazy dog while the farmer watches from the old red barn door"


def write_docs(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "guide.txt").write_text(GUIDE)
    (root / "zz-copy.txt").write_text(GUIDE)  # read after guide.txt: every pair a duplicate
    (root / "de.txt").write_text(GERMAN)
    (root / "farm.md").write_text(
        f"# Farm life\n\n{SHARED}. Every morning the animals wake up early and wait.\n"
    )
    return root


def test_cli_writes_filtered_rows_stats_and_card(tmp_path):
    docs = write_docs(tmp_path / "docs")
    evalset = tmp_path / "eval.txt"
    evalset.write_text(SHARED + "\n")
    out = tmp_path / "weak"
    cfg = PairsConfig(
        corpus=docs, out=out, decontaminate=[evalset], min_positive_words=5, license="cc-by-4.0"
    )
    assert main(cfg) == 0
    assert pq.read_schema(out / DATA_FILE).names == ROW_SCHEMA.names  # the common.rows contract
    rows = read_rows(out)
    assert {r["source"] for r in rows} == {f"pairs:{r}" for r in DEFAULT_RULES}
    assert all(
        r["instruction"] == INSTRUCTIONS[r["source"].split(":")[1]]
        and r["negative"] is None
        and r["language"] == "en"
        and r["model"] == "synth.pairs"
        for r in rows
    )
    assert all(
        r["call"].startswith("guide.txt:") for r in rows
    )  # the copy: duplicates; de: German; farm: eval
    stats = json.loads((out / "stats.json").read_text())
    p = stats["pairs"]
    assert p["documents"] == 4 and stats["rows"] == len(rows) == sum(p["kept"].values())
    guide_pairs = len(
        list(document_pairs(Document("g", "g", "", GUIDE), DEFAULT_RULES, Limits(min_positive_words=5)))
    )
    assert sum(p["dropped"]["duplicate_exact"].values()) == guide_pairs == len(rows)
    assert p["dropped"]["wrong_language"] == {"title_body": 1} and stats["language_check"]["detected"] == {
        "de": 1
    }
    assert sum(p["dropped"]["decontaminated"].values()) >= 1 and stats["decontamination"]["dropped"] >= 1
    assert sum(p["found"].values()) == len(rows) + sum(sum(d.values()) for d in p["dropped"].values())
    card = (out / "README.md").read_text()
    assert "## Rows per rule" in card and "| question_answer |" in card and 'license: "cc-by-4.0"' in card
    assert (out / "plots").is_dir() and (out / ".synth" / "pairs_rejects.jsonl").is_file()
    write_card(out)  # synth.card re-renders a pairs dir with the pairs card
    assert (out / "README.md").read_text() == card
    assert main(cfg) == 0 and read_rows(out) == rows  # deterministic rebuild


def test_bad_flags_and_inputs_get_one_line(tmp_path, capsys):
    docs = write_docs(tmp_path / "docs")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("mine")
    for argv, status, want in [
        (
            ["--corpus", str(docs), "--out", str(tmp_path / "o"), "--rules", "title_body,abstract"],
            2,
            "--rules",
        ),
        (["--corpus", str(docs), "--out", str(tmp_path / "o"), "--language", "xx"], 2, "--language"),
        (["--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], 1, "no such file"),
        (
            ["--corpus", str(docs), "--out", str(tmp_path / "taken")],
            1,
            "not empty (x.txt) and not a synth.pairs dataset",
        ),
        (["--corpus", str(docs), "--out", str(docs / "inside")], 1, "inside the corpus"),
    ]:
        with pytest.raises(SystemExit) as exc:
            cli(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == status and len(err) == 1 and want in err[0], err
    assert (tmp_path / "taken" / "x.txt").read_text() == "mine"


TOPICS = {  # title -> body; the bodies share their title's words, but "violin lessons" is planted off-topic
    "apple harvest": "apple harvest apple orchard trees apple pickers baskets",
    "engine repair": "engine repair engine oil wheel brake garage tools",
    "river swimming": "river swimming river water lake shore summer",
    "violin lessons": "tax invoice payment receipt bank account ledger",
    "piano practice": "piano practice piano keys scales daily practice",
}


def test_consistency_filter_keeps_pairs_whose_positive_the_model_ranks_top_k(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, (title, body) in enumerate(TOPICS.items()):
        (docs / f"{i}.md").write_text(f"# {title}\n\n{body}\n")
    weak = tmp_path / "weak"
    assert (
        main(
            PairsConfig(corpus=docs, out=weak, rules="title_body", min_positive_words=3, language_check=False)
        )
        == 0
    )
    vocabulary = [w for t, b in TOPICS.items() for w in words(f"{t} {b}")]
    model = write_tiny_st(tmp_path / "st", vocabulary)
    out = tmp_path / "filtered"
    assert (
        mine_main(
            MineConfig(
                data=weak,
                model=str(model),
                out=out,
                consistency_k=1,
                num_negatives=2,
                progress=False,
                device="cpu",
            )
        )
        == 0
    )
    kept = [r["query"] for r in read_rows(out)]
    assert kept == [t for t in TOPICS if t != "violin lessons"]  # E5's filter drops the off-topic pair
    stats = json.loads((out / "stats.json").read_text())
    assert stats["mining"]["dropped_by_consistency"] == 1 and stats["rows"] == 4 and "pairs" in stats
    card = (out / "README.md").read_text()
    assert "## Rows per rule" in card and "## Hard negatives mined" in card  # the pairs card, re-rendered


def test_a_bad_json_line_names_its_line_column_and_whole_reason(tmp_path, capsys):
    """Was `docs.jsonl:7: not valid JSON (Invalid control character at)`, the detail cut off."""
    lines = [json.dumps({"title": f"Topic {i}", "text": GUIDE}) for i in range(6)]
    lines.append('{"title": "Tabs", "text": "a raw\ttab"}')
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exc:
        cli(["--corpus", str(corpus), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 1 and len(err) == 1, err
    assert err[0].endswith(f"{corpus}:7: not valid JSON (Invalid control character '\\t' at column 33)")
    assert not (tmp_path / "o").exists()


def test_the_last_sentence_of_a_paragraph_is_a_claim_about_its_title_and_the_rest():
    from synth.corpus import Document
    from synth.structure.rules import last_sentence

    assert last_sentence("See e.g. the FAQ. Then run it now.") == ("See e.g. the FAQ.", "Then run it now.")
    assert last_sentence("One sentence only.") == ("One sentence only.", "")
    text = (
        "We gave forty adult mice a daily dose of the drug for six weeks. Their tumours shrank by half "
        "against the untreated group. The drug slows tumour growth in adult mice."
    )
    doc = Document(id="d1", source="d1", title="A drug and tumours", text=text)
    pairs = [p for p in document_pairs(doc, ("last_sentence",))]
    assert [(p.rule, p.query) for p in pairs] == [
        ("last_sentence", "The drug slows tumour growth in adult mice.")
    ]
    assert (
        pairs[0].positive.startswith("A drug and tumours We gave forty") and "slows" not in pairs[0].positive
    )
    assert INSTRUCTIONS["last_sentence"].startswith("Given a statement")
