"""The user's documents, in any of the accepted layouts, -> a chunked :class:`Corpus`.

| `--corpus` is                                | a document is                 | its id (doc_id)              |
|----------------------------------------------|-------------------------------|------------------------------|
| a folder (searched recursively)              | each .txt/.md/.markdown file  | path from the root: "a/b.md" |
| one .txt/.md file                            | the file                      | its name                     |
| a .jsonl or .parquet with `text`             | each row (`title` optional)   | `_id`, else "line-N"/"row-N" |
| a BEIR dir (corpus.jsonl; queries ignored)   | each corpus.jsonl row         | `_id`, else "line-N"         |
| a .jsonl/.parquet with `_id` and `doc_id`,   | already chunked: each row is  | `doc_id`; passage ids are    |
| or a dir holding passages.jsonl (our own)    | one passage, kept as it is    | the rows' `_id`              |

"line-N" counts the file's lines from 1, "row-N" the Parquet rows from 1: give `_id` for ids that
survive edits to the file. Files and rows are read in a fixed order (paths sorted by code point,
rows as they stand), so the same input gives the same passages on every machine. In a folder,
hidden files and folders (".git") are skipped and other files counted in one log line. A .md
file's title is its front matter's `title:` or else a first-line "# " heading, which then leaves
the text (BEIR keeps titles apart from text, and eval reads "title text").

Every problem is a one-line CorpusError naming the path (and line): a missing path, a folder
without text files, a bad JSON line, a missing or non-string `text`, a duplicate or malformed id,
bytes that are not UTF-8, an unreadable Parquet file. Not handled: PDF/HTML/Word (convert them to
text first), gzipped files, other encodings than UTF-8.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from synth.corpus.chunk import MIN_BUDGET, chunk_text
from synth.corpus.passages import (
    Corpus,
    CorpusError,
    Passage,
    check_id,
    jsonl_rows,
    passage_id,
    passages_from_rows,
)
from synth.corpus.tokens import TokenCounter

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
PASSAGES_FILE = "passages.jsonl"  # a prepared corpus dir (save_passages)
BEIR_CORPUS = "corpus.jsonl"

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.*?)[ \t]*$", re.M)
_YAML_LINE = re.compile(r"[\w-]+:(?:\s|$)|\s|-\s|#")  # key: value, a continuation, a list item, a comment
_FIRST_H1 = re.compile(r"\A\s*#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*(?:\n|\Z)")


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    source: str
    title: str
    text: str


def markdown_title(text: str) -> tuple[str, str]:
    """(title, text without what gave the title): YAML front matter goes (metadata, not content),
    a first-line "# " heading goes when it is the title. A leading "---" rule followed by prose is
    not front matter.

    >>> markdown_title("# Install guide\\n\\nRun it.")
    ('Install guide', '\\nRun it.')
    >>> markdown_title("---\\ntitle: Setup\\ntags: [a]\\n---\\n# Setup steps\\nRun it.")
    ('Setup', '# Setup steps\\nRun it.')
    """
    title = ""
    fm = _FRONT_MATTER.match(text)
    if fm and all(_YAML_LINE.match(line) for line in (fm.group(1) or "").splitlines() if line.strip()):
        found = _FRONT_TITLE.search(fm.group(1) or "")
        title = found.group(1).strip("'\"") if found else ""
        text = text[fm.end() :]
    h1 = _FIRST_H1.match(text)
    if h1 and not title:
        title, text = h1.group(1), text[h1.end() :]
    return title, text


def _decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); convert the file, e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _text_file(path: Path, doc_id: str) -> Document:
    try:
        text = _decode(path, path.read_bytes())
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror})") from None
    title = ""
    if path.suffix.lower() in (".md", ".markdown"):
        title, text = markdown_title(text)
    return Document(check_id(doc_id, str(path)), str(path), title, text)


def _folder(root: Path) -> Iterator[Document]:
    files: list[str] = []
    other: Counter[str] = Counter()
    hidden = 0
    for here, dirs, names in os.walk(root):
        hidden += sum(d.startswith(".") for d in dirs) + sum(n.startswith(".") for n in names)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            rel = Path(here, name).relative_to(root).as_posix()
            suffix = Path(name).suffix.lower()
            if suffix in TEXT_SUFFIXES:
                files.append(rel)
            else:
                other[suffix or "(no suffix)"] += 1
    if other or hidden:
        kinds = ", ".join(f"{n} {s}" for s, n in other.most_common())
        log.info(
            "%s: ignored %d file(s) that are not .txt/.md (%s) and %d hidden",
            root,
            sum(other.values()),
            kinds or "none",
            hidden,
        )
    if not files:
        tables = [s for s in (".jsonl", ".parquet") if other[s]]
        hint = f"; to read a {tables[0]} file, give the file itself" if tables else ""
        raise CorpusError(f"{root}: no .txt or .md files in this folder or below{hint}")
    for rel in sorted(files):  # code-point order: the same on every machine and locale
        yield _text_file(root / rel, rel)


def _field(row: dict, key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def _row_id(row: dict, key: str, where: str, default: str) -> str:
    value = row.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CorpusError(f"{where}: {key!r} must be a string or an integer, got {type(value).__name__}")
    return check_id(str(value), where)


def _documents(rows: Iterable[tuple[int, dict]], path: Path, kind: str) -> Iterator[Document]:
    """(line or row number, row) -> Documents; `kind` is "line" or "row"."""
    for n, row in rows:
        where = f"{path}:{n}"
        if "text" not in row:
            raise CorpusError(
                f"{where}: no 'text' (each {kind} needs 'text'; 'title' and '_id' are optional)"
            )
        text = _field(row, "text", where).replace("\r\n", "\n").replace("\r", "\n")
        yield Document(_row_id(row, "_id", where, f"{kind}-{n}"), where, _field(row, "title", where), text)


def _is_prechunked(row: dict | None) -> bool:
    return row is not None and "doc_id" in row and "_id" in row


def _jsonl(path: Path) -> tuple[Iterator[Document] | None, Iterator[Passage] | None]:
    rows = jsonl_rows(path)
    first = next(rows, None)
    rows = itertools.chain([first] if first else [], rows)
    if first and _is_prechunked(first[1]):
        return None, passages_from_rows(path, rows, strict=False)
    return _documents(rows, path, "line"), None


def _parquet(path: Path) -> tuple[Iterator[Document] | None, Iterator[Passage] | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        if "text" not in names:
            raise CorpusError(f"{path}: no 'text' column (columns: {', '.join(names)})")
        keep = [c for c in ("_id", "doc_id", "source", "title", "text") if c in names]
        table = file.read(columns=keep)
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    columns = {c: table.column(c).to_pylist() for c in keep}
    rows = ((n, {c: columns[c][n - 1] for c in keep}) for n in range(1, table.num_rows + 1))
    if "doc_id" in columns and "_id" in columns:
        return None, passages_from_rows(path, rows, strict=False)
    return _documents(rows, path, "row"), None


def _chunk(
    docs: Iterable[Document], chunk_tokens: int, count_tokens: TokenCounter | None
) -> Iterator[Passage]:
    first_seen: dict[str, str] = {}
    for doc in docs:
        if doc.id in first_seen:
            raise CorpusError(
                f"{doc.source}: duplicate document id {doc.id!r} (also at {first_seen[doc.id]})"
            )
        first_seen[doc.id] = doc.source
        for k, text in enumerate(chunk_text(doc.text, chunk_tokens, count_tokens)):
            yield Passage(passage_id(doc.id, k), doc.id, doc.source, doc.title, text)


def _open(path: Path, flag: str) -> tuple[Iterable[Document] | None, Iterable[Passage] | None]:
    """The documents at `path`, or its passages when it is already chunked (the other is None)."""
    if not path.exists():
        raise CorpusError(f"{flag} {path}: no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir() and (path / PASSAGES_FILE).is_file():
        return None, passages_from_rows(path / PASSAGES_FILE, jsonl_rows(path / PASSAGES_FILE), strict=True)
    if path.is_dir() and (path / BEIR_CORPUS).is_file():
        return _documents(jsonl_rows(path / BEIR_CORPUS), path / BEIR_CORPUS, "line"), None
    if path.is_dir():
        return _folder(path), None
    if suffix == ".jsonl":
        return _jsonl(path)
    if suffix == ".parquet":
        return _parquet(path)
    if suffix in TEXT_SUFFIXES:
        return [_text_file(path, path.name)], None
    raise CorpusError(
        f"{flag} {path}: expected a folder of .txt/.md files, a .jsonl or .parquet file, or a BEIR dir"
    )


def load_documents(path: Path | str, flag: str = "--corpus") -> Iterator[Document]:
    """The documents at `path` whole, unchunked, in the order load_corpus reads them (for readers of a
    document's structure, e.g. synth.pairs). An already chunked corpus gives one document a passage."""
    docs, prechunked = _open(Path(path), flag)
    if docs is not None:
        yield from docs
        return
    for p in prechunked:
        yield Document(p.id, p.source, p.title, p.text)


def load_corpus(
    path: Path | str,
    chunk_tokens: int = 256,
    count_tokens: TokenCounter | None = None,
    flag: str = "--corpus",
) -> Corpus:
    """Read and chunk the documents at `path` (see the module docstring) into passages of at most
    `chunk_tokens` tokens by `count_tokens` (default: :func:`synth.corpus.tokens.estimate_tokens`).
    `flag` names the option in errors about `path` itself."""
    path = Path(path)
    if chunk_tokens < MIN_BUDGET:
        raise CorpusError(f"--chunk-tokens {chunk_tokens}: must be at least {MIN_BUDGET}")
    docs, prechunked = _open(path, flag)
    passages = list(prechunked if prechunked is not None else _chunk(docs, chunk_tokens, count_tokens))
    try:
        corpus = Corpus(passages)
    except CorpusError as e:  # a duplicate passage id in a pre-chunked file
        raise CorpusError(f"{path}: {e}") from None
    if not corpus.passages:
        raise CorpusError(f"{flag} {path}: no text in it (every document is empty)")
    how = "as chunked before" if prechunked is not None else f"chunked to at most {chunk_tokens} tokens"
    log.info("%s: %d documents, %d passages (%s)", path, len(corpus.documents()), len(corpus), how)
    return corpus
