"""synth.corpus: every input layout, bad inputs in one line, chunking, the split by document, BEIR out."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eval.beir import load_beir
from synth.corpus import (
    Corpus,
    CorpusError,
    Passage,
    chunk_text,
    estimate_tokens,
    held_out_among,
    load_corpus,
    load_passages,
    save_passages,
    side_of,
    split_documents,
    write_beir,
)
from synth.corpus.chunk import paragraphs
from synth.corpus.read import markdown_title

WORDS = "data model index query vector search token passage corpus answer retrieval embedding".split()


def sentence(rng: random.Random, lo: int = 6, hi: int = 20) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi))).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def document(rng: random.Random, paragraphs_: int = 4, sentences: int = 3) -> str:
    return "\n\n".join(paragraph(rng, sentences) for _ in range(paragraphs_))


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows)
    )
    return path


def one_line_error(path, match: str, **kwargs) -> str:
    with pytest.raises(CorpusError) as info:
        load_corpus(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


# ---- input layouts ----------------------------------------------------------------------------------
def test_folder_of_text_and_markdown_files_nested_with_other_files_counted(tmp_path, caplog):
    root = tmp_path / "docs"
    (root / "guides" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "b.txt").write_text("Plain text first paragraph.\n\nSecond paragraph.")
    (root / "guides" / "a.md").write_text("# Install guide\n\nRun the installer.\n")
    (root / "guides" / "deep" / "c.MD").write_text("---\ntitle: 'From front matter'\n---\n# Heading\nBody.\n")
    (root / "manual.pdf").write_bytes(b"%PDF-1.4")
    (root / ".git" / "config.txt").write_text("hidden")
    (root / ".notes.md").write_text("hidden")
    with caplog.at_level("INFO", logger="synth.corpus.read"):
        corpus = load_corpus(root)
    assert [p.id for p in corpus.passages] == ["b.txt#0", "guides/a.md#0", "guides/deep/c.MD#0"]
    b, a, c = corpus.passages
    assert (a.doc_id, a.source, a.title, a.text) == (
        "guides/a.md",
        str(root / "guides/a.md"),
        "Install guide",
        "Run the installer.",
    )
    assert (b.title, b.text) == ("", "Plain text first paragraph.\n\nSecond paragraph.")
    assert (c.title, c.text) == ("From front matter", "# Heading\n\nBody.")
    assert corpus.documents() == ["b.txt", "guides/a.md", "guides/deep/c.MD"]
    assert "ignored 1 file(s) that are not .txt/.md (1 .pdf) and 2 hidden" in caplog.text


def test_jsonl_with_and_without_ids_and_titles(tmp_path):
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {
                "_id": "kb-1",
                "title": "Reset a password",
                "text": "Open settings.\n\nClick reset.",
                "url": "ignored",
            },
            "",  # a blank line is skipped, and line numbers go on counting
            {"text": "No id, no title."},
            {"_id": 7, "title": None, "text": "An integer id."},
        ],
    )
    corpus = load_corpus(path)
    assert [(p.id, p.doc_id, p.source, p.title) for p in corpus.passages] == [
        ("kb-1#0", "kb-1", f"{path}:1", "Reset a password"),
        ("line-3#0", "line-3", f"{path}:3", ""),
        ("7#0", "7", f"{path}:4", ""),
    ]
    assert corpus.by_id("kb-1#0").text == "Open settings.\n\nClick reset."


def test_parquet_with_and_without_ids(tmp_path):
    with_ids = tmp_path / "with.parquet"
    pq.write_table(
        pa.table({"_id": ["x", "y"], "title": ["X", None], "text": ["Text x.", "Text y."]}), with_ids
    )
    without = tmp_path / "without.parquet"
    pq.write_table(pa.table({"text": ["First.", "Second."], "other": [1, 2]}), without)
    assert [(p.id, p.title, p.text) for p in load_corpus(with_ids).passages] == [
        ("x#0", "X", "Text x."),
        ("y#0", "", "Text y."),
    ]
    assert [(p.id, p.source) for p in load_corpus(without).passages] == [
        ("row-1#0", f"{without}:1"),
        ("row-2#0", f"{without}:2"),
    ]


def test_beir_dir_reads_the_corpus_and_ignores_queries_and_qrels(tmp_path):
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(
        root / "corpus.jsonl", [{"_id": "d1", "title": "T1", "text": "One."}, {"_id": "d2", "text": "Two."}]
    )
    write_jsonl(root / "queries.jsonl", [{"_id": "q1", "text": "which?"}])
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    corpus = load_corpus(root)
    assert [(p.id, p.doc_id, p.title, p.text) for p in corpus.passages] == [
        ("d1#0", "d1", "T1", "One."),
        ("d2#0", "d2", "", "Two."),
    ]


def test_markdown_titles_from_front_matter_or_first_heading_only():
    assert markdown_title('---\ntitle: "Setup"\ntags:\n  - a\n---\nBody.') == ("Setup", "Body.")
    assert markdown_title("Intro.\n\n# Later heading\n") == ("", "Intro.\n\n# Later heading\n")
    rule = "---\nA horizontal rule, then prose.\n---\nMore."  # not front matter: kept whole
    assert markdown_title(rule) == ("", rule)


def test_a_single_markdown_file_is_one_document(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nSome text.")
    assert [(p.id, p.title) for p in load_corpus(path).passages] == [("notes.md#0", "Notes")]


def test_prechunked_passages_are_kept_as_they_are(tmp_path):
    """A dir holding passages.jsonl (the corpus stage's output) and a user's chunked .jsonl with
    doc_id: same ids, no re-chunking, whatever the budget."""
    rng = random.Random(1)
    (tmp_path / "docs").mkdir()
    for i in range(3):
        (tmp_path / "docs" / f"d{i}.txt").write_text(document(rng, 6))
    corpus = load_corpus(tmp_path / "docs", chunk_tokens=64)
    save_passages(corpus, tmp_path / "run" / "passages.jsonl")
    again = load_corpus(tmp_path / "run", chunk_tokens=512)
    assert again.passages == corpus.passages and again.fingerprint == corpus.fingerprint
    user = write_jsonl(
        tmp_path / "chunks.jsonl",
        [
            {"_id": "c1", "doc_id": "manual", "text": "Part one."},
            {"_id": "c2", "doc_id": "manual", "text": "Part two."},
        ],
    )
    chunks = load_corpus(user)
    assert [(p.id, p.doc_id, p.source) for p in chunks.passages] == [
        ("c1", "manual", f"{user}:1"),
        ("c2", "manual", f"{user}:2"),
    ]
    assert chunks.documents() == ["manual"]


# ---- bad inputs: one line each, naming the path ---------------------------------------------------
def test_missing_path_and_unknown_kind_of_file(tmp_path):
    one_line_error(tmp_path / "nope", f"--corpus {tmp_path / 'nope'}: no such file or folder")
    (tmp_path / "table.csv").write_text("text\nhello\n")
    one_line_error(tmp_path / "table.csv", "expected a folder of .txt/.md files, a .jsonl or .parquet file")


def test_folder_without_text_files(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(tmp_path / "empty", f"{tmp_path / 'empty'}: no .txt or .md files")
    (tmp_path / "tables").mkdir()
    write_jsonl(tmp_path / "tables" / "docs.jsonl", [{"text": "x"}])
    one_line_error(tmp_path / "tables", "to read a .jsonl file, give the file itself")


def test_folder_of_empty_files(tmp_path):
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.txt").write_text("  \n\n \n")
    one_line_error(tmp_path / "blank", "no text in it")


def test_bad_json_line_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"text": "fine"}, "", "{not json"])
    one_line_error(path, f"{path}:3: not valid JSON")


def test_missing_or_non_string_text(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"text": "fine"}, {"body": "wrong key"}])
    one_line_error(path, f"{path}:2: no 'text'")
    path = write_jsonl(tmp_path / "num.jsonl", [{"text": 12}])
    one_line_error(path, f"{path}:1: 'text' must be a string, got int")
    table = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["x"]}), table)
    one_line_error(table, f"{table}: no 'text' column (columns: body)")


def test_duplicate_ids(tmp_path):
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, {"_id": "a", "text": "z"}],
    )
    one_line_error(path, f"{path}:3: duplicate document id 'a' (also at {path}:1)")
    chunks = write_jsonl(
        tmp_path / "chunks.jsonl",
        [{"_id": "c", "doc_id": "d", "text": "x"}, {"_id": "c", "doc_id": "d", "text": "y"}],
    )
    one_line_error(chunks, f"{chunks}: duplicate passage id 'c'")


def test_ids_that_cannot_go_into_tsv_qrels(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"_id": "a\tb", "text": "x"}])
    one_line_error(path, f"{path}:1: id 'a\\tb' is blank or holds a tab or line break")


def test_non_utf8_file_names_file_and_line(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.txt").write_text("fine")
    (tmp_path / "docs" / "latin1.txt").write_bytes("line one\ncaf\xe9 au lait".encode("latin-1"))
    one_line_error(tmp_path / "docs", f"{tmp_path / 'docs' / 'latin1.txt'}:2: not UTF-8 (byte 0xe9)")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    one_line_error(bad, f"{bad}:2: not UTF-8")


def test_unreadable_parquet_and_too_small_budget(tmp_path):
    path = tmp_path / "docs.parquet"
    path.write_bytes(b"this is not parquet")
    one_line_error(path, f"{path}: not a readable Parquet file")
    (tmp_path / "a.txt").write_text("x")
    one_line_error(tmp_path / "a.txt", "--chunk-tokens 8: must be at least 16", chunk_tokens=8)


# ---- chunking -----------------------------------------------------------------------------------
def words_of(texts) -> list[str]:
    return [w for t in texts for w in t.split()]


@pytest.mark.parametrize("budget", [16, 40, 100, 256])
def test_chunks_respect_the_budget_and_lose_or_repeat_no_word(budget):
    rng = random.Random(budget)
    for _ in range(20):
        doc = "\n\n".join(paragraph(rng, rng.randint(1, 12)) for _ in range(rng.randint(1, 8)))
        passages = chunk_text(doc, budget)
        assert all(estimate_tokens(p) <= budget for p in passages)
        assert words_of(passages) == doc.split()


def test_paragraph_boundaries_kept_when_paragraphs_fit():
    rng = random.Random(2)
    paras = [paragraph(rng, rng.randint(1, 4)) for _ in range(30)]
    passages = chunk_text("\n\n".join(paras), 120)
    assert len(passages) > 3
    # every passage is whole paragraphs joined by blank lines: no paragraph is cut or shared
    assert [p for passage in passages for p in passage.split("\n\n")] == paras


def test_a_long_paragraph_is_cut_after_sentences():
    rng = random.Random(3)
    sentences = [sentence(rng) for _ in range(60)]
    passages = chunk_text("Intro.\n\n" + " ".join(sentences), 80)
    assert len(passages) > 5 and all(estimate_tokens(p) <= 80 for p in passages)
    assert all(p.endswith(".") for p in passages)
    # every passage is whole sentences: split back after each ". ", they are the input's sentences
    assert [s for p in passages for s in re.split(r"(?<=\.)\s+", p)] == ["Intro.", *sentences]


def test_a_long_sentence_is_cut_between_words_and_a_huge_word_into_slices():
    rng = random.Random(4)
    words = rng.choices(WORDS, k=400)
    passages = chunk_text(" ".join(words), 50)
    assert all(estimate_tokens(p) <= 50 for p in passages) and len(passages) >= 8
    assert words_of(passages) == words  # no word is cut
    blob = "A" * 3000
    sliced = chunk_text(f"see {blob} end", 50)
    assert (
        all(estimate_tokens(p) <= 50 for p in sliced) and "".join(sliced).replace(" ", "") == f"see{blob}end"
    )


def test_cjk_and_thai_text_is_chunked_by_sentence_then_character():
    zh_sentence = "检索增强生成把外部文档交给语言模型。"  # 17 Han + 。
    zh = zh_sentence * 40
    passages = chunk_text(zh, 64)
    assert len(passages) >= 10 and all(estimate_tokens(p) <= 64 for p in passages)
    assert all(p.endswith("。") for p in passages) and "".join(passages) == zh  # nothing inserted or lost
    unpunctuated = "语言模型" * 100
    cut = chunk_text(unpunctuated, 50)
    assert all(estimate_tokens(p) <= 50 for p in cut) and "".join(cut) == unpunctuated
    thai = "การค้นหาเอกสารที่เกี่ยวข้อง " * 30
    th = chunk_text(thai, 40)
    assert len(th) > 3 and all(estimate_tokens(p) <= 40 for p in th)
    assert "".join(th).replace(" ", "") == thai.replace(" ", "")


def test_a_real_tokenizer_can_be_plugged_in_and_is_checked_at_joins():
    """A counter that charges 5 tokens per paragraph join: summing pieces undercounts, the chunker
    must still return passages within the budget by that counter."""

    def count(text: str) -> int:
        return len(text.split()) + 5 * text.count("\n\n")

    doc = "\n\n".join(" ".join(["word"] * 9) for _ in range(20))  # 20 paragraphs of 9 words
    passages = chunk_text(doc, 30, count_tokens=count)
    assert all(count(p) <= 30 for p in passages)
    assert [p.count("\n\n") for p in passages] == [1] * 10  # 9 + 5 + 9 = 23 fits, three would be 37


def test_headings_start_a_paragraph_and_never_end_a_passage():
    assert paragraphs("Intro\n## Section\nBody\n\n#hashtag is text\n    # indented code") == [
        ("Intro", False),
        ("## Section", True),
        ("Body", False),
        ("#hashtag is text\n    # indented code", False),
    ]
    rng = random.Random(5)
    doc = "\n\n".join(f"## Part {i}\n{paragraph(rng, 3)}" for i in range(12))
    passages = chunk_text(doc, 100)
    assert len(passages) > 3
    assert all(not p.splitlines()[-1].startswith("#") for p in passages)
    assert all(p.startswith("## Part") for p in passages)


def test_code_fences_keep_blank_lines_and_comments():
    doc = "Example:\n\n```python\n# a comment, not a heading\nx = 1\n\ny = 2\n```\n\nAfter."
    assert paragraphs(doc) == [
        ("Example:", False),
        ("```python\n# a comment, not a heading\nx = 1\n\ny = 2\n```", False),
        ("After.", False),
    ]


def test_the_last_two_passages_are_evened_out():
    para = " ".join(["word"] * 23)  # 23 * 1.3 = 29.9 tokens
    passages = chunk_text("\n\n".join([para] * 4), 100)
    # greedy packing would give 3 paragraphs + 1; evening out gives 2 + 2
    assert [p.count("\n\n") + 1 for p in passages] == [2, 2]


def test_estimate_golden_values():
    assert estimate_tokens("") == 0
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") == 12  # 9 words * 1.3 = 11.7
    assert (
        estimate_tokens("https://example.com/a/very/long/path/to/a/resource?with=query") == 16
    )  # 62 bytes / 4
    assert estimate_tokens("给定一个科学论断") == 8  # one per Han character
    assert estimate_tokens("документация") == 6  # 12 Cyrillic letters = 24 bytes / 4


def test_ids_stable_across_loads_and_other_documents_untouched_by_an_edit(tmp_path):
    rng = random.Random(6)
    root = tmp_path / "docs"
    root.mkdir()
    for name in ("a.md", "b.md", "c.txt"):
        (root / name).write_text(document(rng, 8))
    first, second = load_corpus(root, chunk_tokens=64), load_corpus(root, chunk_tokens=64)
    assert first.passages == second.passages and first.fingerprint == second.fingerprint
    (root / "b.md").write_text(document(rng, 3) + "\n\n" + (root / "b.md").read_text())
    edited = load_corpus(root, chunk_tokens=64)
    assert edited.fingerprint != first.fingerprint
    keep = lambda c: [p for p in c.passages if p.doc_id != "b.md"]  # noqa: E731
    assert keep(edited) == keep(first)
    assert [p.text for p in edited.passages if p.doc_id == "b.md"] != [
        p.text for p in first.passages if p.doc_id == "b.md"
    ]


def test_loading_2000_passages_takes_well_under_seconds(tmp_path):
    rng = random.Random(7)
    path = write_jsonl(
        tmp_path / "docs.jsonl", [{"_id": f"d{i}", "text": document(rng, 10)} for i in range(400)]
    )
    start = time.perf_counter()
    corpus = load_corpus(path, chunk_tokens=128)
    elapsed = time.perf_counter() - start
    assert len(corpus) >= 2000, len(corpus)
    assert elapsed < 10, f"{len(corpus)} passages took {elapsed:.1f}s"


# ---- the split ----------------------------------------------------------------------------------
def hundred_documents(passages_each: int = 3) -> Corpus:
    return Corpus(
        Passage(f"doc{d}#{k}", f"doc{d}", f"doc{d}.txt", "", f"text {d} {k}")
        for d in range(100)
        for k in range(passages_each)
    )


def test_split_by_document_deterministic_with_the_asked_fraction():
    corpus = hundred_documents()
    train, held = split_documents(corpus, 0.2, seed=0)
    assert len(held) == 20 and len(train) == 80
    assert train | held == set(corpus.documents()) and not train & held
    assert split_documents(corpus, 0.2, seed=0) == (train, held)
    shuffled = list(corpus.passages)
    random.Random(0).shuffle(shuffled)
    assert split_documents(Corpus(shuffled), 0.2, seed=0) == (train, held)  # order does not matter
    assert split_documents(corpus, 0.2, seed=1)[1] != held
    side = side_of(corpus, held)
    for p in corpus.passages:  # every passage on its document's side: none on both
        assert side(p.id) == ("held_out" if p.doc_id in held else "train")


def test_held_out_among_finds_held_out_passages_in_training_rows():
    corpus = hundred_documents()
    _, held = split_documents(corpus, 0.3, seed=3)
    held_doc = sorted(held)[0]
    train_doc = next(d for d in corpus.documents() if d not in held)
    rows = [f"{train_doc}#0", f"{train_doc}#1", f"{held_doc}#2", f"{held_doc}#2"]
    assert held_out_among(corpus, held, rows) == [f"{held_doc}#2"]
    assert held_out_among(corpus, held, rows[:2]) == []
    with pytest.raises(CorpusError, match="'nope#0' is not in the corpus"):
        held_out_among(corpus, held, ["nope#0"])


def test_split_keeps_a_document_on_each_side_and_refuses_what_cannot_split():
    two = Corpus([Passage("a#0", "a", "a", "", "x"), Passage("b#0", "b", "b", "", "y")])
    for fraction in (0.01, 0.5, 0.99):
        train, held = split_documents(two, fraction, seed=0)
        assert len(train) == 1 and len(held) == 1
    one = Corpus([Passage("a#0", "a", "a", "", "x"), Passage("a#1", "a", "a", "", "y")])
    with pytest.raises(CorpusError, match="1 document"):
        split_documents(one, 0.2, seed=0)
    with pytest.raises(CorpusError, match="--held-out 1.0"):
        split_documents(two, 1.0, seed=0)


# ---- files out ----------------------------------------------------------------------------------
def test_write_beir_round_trips_through_eval_beir(tmp_path):
    rng = random.Random(8)
    (tmp_path / "docs").mkdir()
    for i in range(4):
        (tmp_path / "docs" / f"d{i}.md").write_text(f"# Title {i}\n\n" + document(rng, 5))
    corpus = load_corpus(tmp_path / "docs", chunk_tokens=64)
    ids = [p.id for p in corpus.passages]
    queries = {"q1": "how do I index vectors?", "q2": "multi\nline query ünïcode"}
    qrels = {"q1": {ids[0]: 1}, "q2": {ids[1]: 1, ids[-1]: 2}}
    out = write_beir(tmp_path / "eval", corpus.passages, queries, qrels)
    data = load_beir(out, "test")
    assert data.corpus == {p.id: f"{p.title} {p.text}" for p in corpus.passages}
    assert data.queries == queries and data.qrels == qrels
    assert sorted(f.name for f in out.rglob("*")) == ["corpus.jsonl", "qrels", "queries.jsonl", "test.tsv"]


def test_write_beir_refuses_unknown_ids_and_writes_nothing(tmp_path):
    passages = [Passage("a#0", "a", "a", "", "x")]
    with pytest.raises(ValueError, match="unknown queries \\[\\] or passages \\['b#0'\\]"):
        write_beir(tmp_path / "eval", passages, {"q": "?"}, {"q": {"b#0": 1}})
    with pytest.raises(ValueError, match="unknown queries \\['r'\\]"):
        write_beir(tmp_path / "eval", passages, {"q": "?"}, {"r": {"a#0": 1}})
    assert not (tmp_path / "eval").exists()


def test_save_and_load_passages(tmp_path):
    rng = random.Random(9)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("# Ünïcode títle\n\n" + document(rng, 6) + "\n\n中文段落。")
    corpus = load_corpus(tmp_path / "docs", chunk_tokens=48)
    path = save_passages(corpus, tmp_path / "run" / "passages.jsonl")
    loaded = load_passages(path)
    assert loaded.passages == corpus.passages and loaded.fingerprint == corpus.fingerprint
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    moved = Corpus(Passage(p.id, p.doc_id, "elsewhere/" + p.source, p.title, p.text) for p in corpus.passages)
    assert moved.fingerprint == corpus.fingerprint  # where the corpus lay is not what it is


def test_load_passages_refuses_other_files(tmp_path):
    with pytest.raises(CorpusError, match="passages file not found"):
        load_passages(tmp_path / "missing.jsonl")
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"_id": "a", "text": "x"}])
    with pytest.raises(
        CorpusError, match=f"{plain}:1: a passage needs the keys .* missing \\['doc_id', 'source'"
    ):
        load_passages(plain)
    extra = write_jsonl(
        tmp_path / "extra.jsonl",
        [{"_id": "a#0", "doc_id": "a", "source": "a", "title": "", "text": "x", "score": 1}],
    )
    with pytest.raises(CorpusError, match="unknown keys \\['score'\\]"):
        load_passages(extra)


def test_corpus_index_and_duplicate_passage_ids():
    passages = [Passage("a#0", "a", "a", "", "x"), Passage("a#1", "a", "a", "", "y")]
    corpus = Corpus(passages)
    assert corpus.index["a#1"] is passages[1] and "a#0" in corpus and len(corpus) == 2
    with pytest.raises(CorpusError, match="duplicate passage id 'a#0'"):
        Corpus([*passages, passages[0]])


@pytest.mark.slow
def test_loading_100k_passages_takes_seconds(tmp_path):
    rng = random.Random(10)
    path = write_jsonl(
        tmp_path / "docs.jsonl", [{"_id": f"d{i}", "text": document(rng, 12, 4)} for i in range(20000)]
    )
    start = time.perf_counter()
    corpus = load_corpus(path, chunk_tokens=128)
    elapsed = time.perf_counter() - start
    assert len(corpus) >= 100_000, len(corpus)
    assert elapsed < 30, f"{len(corpus)} passages took {elapsed:.1f}s"
