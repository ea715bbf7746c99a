"""Local retrieval data in the BEIR layout, read with one-line errors.

BEIR dir (what ``python -m eval.retrieval --data DIR`` reads)::

    DIR/corpus.jsonl        {"_id": "d1", "title": "...", "text": "..."}   one per line
    DIR/queries.jsonl       {"_id": "q1", "text": "..."}
    DIR/qrels/{split}.tsv   query-id <TAB> corpus-id <TAB> score, with a header line

A document is read as ``title + " " + text`` (stripped), the way mteb builds it, so both score the
same strings. An optional ``language`` on query and corpus rows names the data's language (for the
per-language table, :mod:`eval.tables`): ``ko``, or ``ko-en`` where queries in one language search
a corpus in another (cross-lingual retrieval is a BEIR dir like any other).

Not handled: BEIR's zipped downloads, gzipped files, qrels without a header line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from common.jsonl import JsonlError, read_jsonl
from eval.errors import EvalError


@dataclass(frozen=True)
class RetrievalData:
    """One split of a BEIR dataset; ``qrels`` keeps only queries with at least one judgement."""

    corpus: dict[str, str]  # doc id -> "title text"
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}
    language: str | None = None  # from the rows' ``language`` fields: "ko", or "ko-en" (queries-corpus)


def _read_jsonl(path: Path, kind: str) -> list[dict]:
    if not path.is_file():
        raise EvalError(
            f"{path}: {kind} file not found (expected the BEIR layout: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)"
        )
    needs_keys = "each line needs the keys '_id' and 'text'"
    rows = []
    try:
        for n, row in read_jsonl(path):
            if "_id" not in row or "text" not in row:
                raise EvalError(f"{path}:{n}: {needs_keys}")
            rows.append(row)
    except JsonlError as e:  # a line that is no object lacks the keys too: one message for both
        raise EvalError(f"{path}:{e.line}: {needs_keys}" if e.problem == "not_object" else str(e)) from None
    return rows


def _one_language(rows: list[dict]) -> str | None:
    """The ``language`` every row names, or None (missing on some row, or mixed)."""
    langs = {str(r.get("language") or "") for r in rows}
    return langs.pop() if len(langs) == 1 and "" not in langs else None


def data_language(query_rows: list[dict], corpus_rows: list[dict]) -> str | None:
    """``ko`` (one language, or only one side names it), ``ko-en`` (queries in ko, corpus in en)."""
    q, c = _one_language(query_rows), _one_language(corpus_rows)
    return f"{q}-{c}" if q and c and q != c else q or c


def _doc_text(row: dict) -> str:
    title = row.get("title") or ""
    return (title + " " + row["text"]).strip() if title else row["text"].strip()


def load_beir(root: Path, split: str = "test") -> RetrievalData:
    """Read a BEIR dir; unknown ids in the qrels, duplicates and an empty corpus are errors."""
    root = Path(root)
    if not root.is_dir():
        raise EvalError(f"--data {root}: not a directory")
    corpus_rows = _read_jsonl(root / "corpus.jsonl", "corpus")
    if not corpus_rows:
        raise EvalError(f"{root / 'corpus.jsonl'}: the corpus is empty")
    corpus = {str(r["_id"]): _doc_text(r) for r in corpus_rows}
    if len(corpus) != len(corpus_rows):
        raise EvalError(f"{root / 'corpus.jsonl'}: duplicate document ids")
    query_rows = _read_jsonl(root / "queries.jsonl", "queries")
    queries = {str(r["_id"]): str(r["text"]) for r in query_rows}
    qrels = load_qrels(root / "qrels" / f"{split}.tsv", split)
    unknown_q = sorted(set(qrels) - set(queries))
    if unknown_q:
        raise EvalError(
            f"{root / 'qrels' / f'{split}.tsv'}: {len(unknown_q)} query id(s) not in queries.jsonl, e.g. {unknown_q[:3]}"
        )
    unknown_d = sorted({d for docs in qrels.values() for d in docs} - set(corpus))
    if unknown_d:
        raise EvalError(
            f"{root / 'qrels' / f'{split}.tsv'}: {len(unknown_d)} document id(s) not in corpus.jsonl, e.g. {unknown_d[:3]}"
        )
    # Only judged queries are evaluated (mteb drops the others too); encoding the rest is waste.
    queries = {q: t for q, t in queries.items() if q in qrels}
    return RetrievalData(
        corpus=corpus, queries=queries, qrels=qrels, language=data_language(query_rows, corpus_rows)
    )


def load_qrels(path: Path, split: str) -> dict[str, dict[str, int]]:
    """query-id, corpus-id, score rows (TSV with a header) -> {query: {doc: grade}}."""
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.is_dir() else []
        raise EvalError(
            f"{path}: qrels file for --split {split} not found; splits present: {splits or 'none'}"
        )
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise EvalError(f"{path}: empty qrels file")
        for n, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) < 3:
                raise EvalError(f"{path}:{n}: expected query-id<TAB>corpus-id<TAB>score, got {row!r}")
            try:
                grade = int(float(row[2]))
            except ValueError:
                raise EvalError(f"{path}:{n}: score {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    if not qrels:
        raise EvalError(f"{path}: no judgements in the qrels file")
    return qrels
