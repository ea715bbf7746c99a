"""Passages, the chunked corpus, and its file `passages.jsonl`, which later stages share.

passages.jsonl, one passage per line, in corpus order (it is also a valid BEIR corpus.jsonl):

    {"_id": "guide.md#0", "doc_id": "guide.md", "source": "docs/guide.md", "title": "Guide", "text": "..."}

A passage id is its document's id, "#", and its chunk number from 0, so it does not change while
its document's text does not, whatever happens to other documents.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from common.jsonl import JsonlError, read_jsonl
from synth.dataset.dataset import _replace_atomically

PASSAGE_KEYS = ("_id", "doc_id", "source", "title", "text")


class CorpusError(ValueError):
    """Bad corpus input: one line naming the path (and line) and what is wrong."""


@dataclass(frozen=True, slots=True)
class Passage:
    id: str  # the doc id + "#" + chunk number, e.g. "guide.md#3"; stable across runs and machines
    doc_id: str  # the source document: a row's _id, else the file's path relative to the corpus root
    source: str  # where the text came from, for people: "docs/guide.md", "docs.jsonl:17"
    title: str  # the document's title, "" if none
    text: str

    @property
    def document(self) -> str:
        """The passage as a retriever sees it: "title text", the way eval.beir (and mteb) build a
        BEIR document, so a training positive and its evaluation document are the same string."""
        return f"{self.title} {self.text}".strip()


def passage_id(doc_id: str, chunk: int) -> str:
    return f"{doc_id}#{chunk}"


def document_of(an_id: str) -> str:
    """The document id of a passage id ("guide.md#3" -> "guide.md")."""
    return an_id.rsplit("#", 1)[0]


def check_id(an_id: str, where: str) -> str:
    """`an_id`, unless it is blank or holds a tab or line break (ids go into TSV qrels)."""
    if not an_id.strip() or any(c in an_id for c in "\t\n\r"):
        raise CorpusError(
            f"{where}: id {an_id!r} is blank or holds a tab or line break (ids go into TSV qrels)"
        )
    return an_id


class Corpus:
    """Passages in a deterministic order: sorted files (or file rows), then chunk order.

    `Corpus(passages)` checks that ids are unique; `corpus.index` is the id -> Passage mapping the
    generation plan reads."""

    def __init__(self, passages: Iterable[Passage]):
        self.passages: list[Passage] = list(passages)
        index = {p.id: p for p in self.passages}
        if len(index) != len(self.passages):
            counts = Counter(p.id for p in self.passages)
            dup = next(i for i, c in counts.items() if c > 1)
            raise CorpusError(f"duplicate passage id {dup!r} ({counts[dup]} passages have it)")
        self.index: Mapping[str, Passage] = MappingProxyType(index)

    def __len__(self) -> int:
        return len(self.passages)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self.index

    def by_id(self, passage_id: str) -> Passage:
        try:
            return self.index[passage_id]
        except KeyError:
            raise CorpusError(f"passage id {passage_id!r} is not in the corpus") from None

    def documents(self) -> list[str]:
        """Document ids, in corpus order, each once."""
        return list(dict.fromkeys(p.doc_id for p in self.passages))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over every passage's id, doc id, title and text, in order (not `source`, which
        names where the corpus lay, so a moved corpus is the same corpus). A run compares it on
        resume to refuse a changed corpus."""
        h = hashlib.sha256()
        for p in self.passages:
            for part in (p.id, p.doc_id, p.title, p.text):
                h.update(part.encode())
                h.update(b"\0")
        return h.hexdigest()


def save_passages(corpus: Corpus | Iterable[Passage], path: Path) -> Path:
    """Write passages.jsonl (see the module docstring) to a temporary name, then rename it into place."""
    path = Path(path)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for p in corpus:
                row = {"_id": p.id, "doc_id": p.doc_id, "source": p.source, "title": p.title, "text": p.text}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    _replace_atomically(path, write)
    return path


def _string(row: dict, key: str, where: str, default: str | None = None, ints: bool = False) -> str:
    """row[key] as a string; None or absent gives `default` where there is one; ids may be integers."""
    value = row.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, str) or (ints and isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise CorpusError(f"{where}: {key!r} must be a string, got {type(value).__name__}")


def passages_from_rows(path: Path, rows: Iterable[tuple[int, dict]], strict: bool) -> Iterator[Passage]:
    """(line, row) of already chunked passages -> Passages, kept as they are. `strict`: every key of
    passages.jsonl must be there and no other (our own file); else `source` and `title` may be
    missing (a user's pre-chunked file with `_id`, `doc_id` and `text`)."""
    for n, row in rows:
        where = f"{path}:{n}"
        missing = [k for k in PASSAGE_KEYS if k not in row and (strict or k in ("_id", "doc_id", "text"))]
        if missing:
            raise CorpusError(
                f"{where}: a passage needs the keys {', '.join(PASSAGE_KEYS)}; missing {missing}"
            )
        extra = sorted(set(row) - set(PASSAGE_KEYS))
        if strict and extra:
            raise CorpusError(f"{where}: unknown keys {extra} (passages.jsonl has {', '.join(PASSAGE_KEYS)})")
        yield Passage(
            id=check_id(_string(row, "_id", where, ints=True), where),
            doc_id=check_id(_string(row, "doc_id", where, ints=True), where),
            source=_string(row, "source", where, default=where),
            title=_string(row, "title", where, default=""),
            text=_string(row, "text", where),
        )


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """common.jsonl's (line, object) pairs; its one-line errors (bad JSON, not UTF-8) as CorpusError."""
    try:
        yield from read_jsonl(path)
    except JsonlError as e:
        raise CorpusError(str(e)) from None


def load_passages(path: Path) -> Corpus:
    """Read a passages.jsonl written by :func:`save_passages`; one-line CorpusError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: passages file not found (written by the corpus stage)")
    passages = list(passages_from_rows(path, jsonl_rows(path), strict=True))
    try:
        return Corpus(passages)
    except CorpusError as e:
        raise CorpusError(f"{path}: {e}") from None
