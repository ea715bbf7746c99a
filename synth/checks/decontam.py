"""Decontamination: drop generated rows that share a long n-gram with evaluation data.

A row is contaminated when any of its texts shares a 13-word n-gram (case, punctuation and space
insensitive, after `synth.checks.text.normalize`) with any evaluation text; in unspaced scripts (Chinese,
Japanese, Thai...) the unit is characters, 13 words' worth (`CHAR_NGRAM`). N-grams are hashed to
64 bits and kept in one sorted numpy array, 8 bytes each, so a large evaluation corpus fits in memory
(a BEIR corpus of 5M passages is about 400M n-grams, 3 GB: split it if that is too much).

Evaluation sources, by path:
- a BEIR dir (corpus.jsonl and/or queries.jsonl): titles, texts and queries;
- .tsv / .csv with a header: every column whose values are not numbers (STS files: sentence1/2);
- .jsonl / .json: every string value of every record;
- .txt: every line; a directory without BEIR files: every file above inside it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from synth.checks.text import normalize

NGRAM_WORDS = 13
CHAR_NGRAM = 20  # ~13 words of Chinese (1.5 characters a word); stricter for Thai, looser for Japanese
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff]")
_MIX = np.uint64(0x9E3779B97F4A7C15)
TEXT_SUFFIXES = {".tsv", ".csv", ".jsonl", ".json", ".txt"}


class DecontamError(ValueError):
    pass


def _window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of all length-n windows of an id sequence (polynomial, wraps mod 2^64)."""
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    for j in range(n):
        h = h * _MIX + ids[j : j + len(h)]
    return h ^ (h >> np.uint64(31))


class NgramHasher:
    """Maps texts to the hashes of their n-grams; word ids are shared across all texts."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def __call__(self, text: str) -> np.ndarray:
        norm = normalize(text)
        compact = norm.replace(" ", "")
        if compact and len(_UNSPACED.findall(compact)) > len(compact) / 2:
            codes = np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
            return _window_hashes(codes + np.uint64(1 << 40), CHAR_NGRAM)  # apart from word ids
        ids = np.fromiter(
            (self.vocab.setdefault(w, len(self.vocab) + 1) for w in norm.split()), dtype=np.uint64
        )
        return _window_hashes(ids, NGRAM_WORDS)


def iter_texts(path: Path) -> Iterator[str]:
    if not path.exists():
        raise DecontamError(f"--decontaminate {path}: no such file or directory")
    if path.is_dir():
        beir = [path / "corpus.jsonl", path / "queries.jsonl"]
        files = [p for p in beir if p.exists()] or sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
        )
        if not files:
            raise DecontamError(
                f"--decontaminate {path}: no evaluation files (corpus.jsonl, .tsv, .jsonl, .txt)"
            )
        for file in files:
            yield from iter_texts(file)
        return
    suffix = path.suffix.lower()
    try:
        if suffix in (".tsv", ".csv"):
            yield from _table_texts(path, "\t" if suffix == ".tsv" else ",")
        elif suffix in (".jsonl", ".json"):
            yield from _json_texts(path)
        elif suffix == ".txt":
            yield from (line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        else:
            raise DecontamError(
                f"--decontaminate {path}: unsupported file type {suffix!r} (.tsv .csv .jsonl .json .txt)"
            )
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as err:
        raise DecontamError(f"--decontaminate {path}: cannot read ({err})") from None


def _table_texts(path: Path, delimiter: str) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE):
            for value in row.values():
                if isinstance(value, str) and value.strip() and not _is_number(value):
                    yield value


def _json_texts(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        records = (
            [json.load(f)] if path.suffix == ".json" else (json.loads(line) for line in f if line.strip())
        )
        for record in records:
            yield from _strings(record)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


class Decontaminator:
    """Holds the n-grams of the evaluation sets; `contaminated(texts)` checks a row."""

    def __init__(self, paths: Iterable[Path]):
        self.paths = [Path(p) for p in paths]
        self.hasher = NgramHasher()
        chunks = [self.hasher(text) for path in self.paths for text in iter_texts(path)]
        self.ngrams = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
        self.texts_indexed = len(chunks)

    def contaminated(self, texts: Iterable[str | None]) -> bool:
        for text in texts:
            if not text:
                continue
            hashes = self.hasher(text)
            if len(hashes) and len(self.ngrams):
                pos = np.searchsorted(self.ngrams, hashes)
                pos[pos == len(self.ngrams)] = 0
                if (self.ngrams[pos] == hashes).any():
                    return True
        return False
