"""Local STS data: sentence pairs with gold scores, read with one-line errors.

TSV or CSV (chosen by the suffix) whose header names ``sentence1``, ``sentence2`` and ``score``;
other columns are ignored, except an optional ``language`` column: when every row has the same
value, that is the file's language (the per-language table of :mod:`eval.tables`). TSV is read without quote handling, because sentences carry unbalanced
quotes (STS Benchmark does); CSV uses standard quoting.

Not handled: files without a header, gzipped files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from eval.errors import EvalError


@dataclass(frozen=True)
class STSData:
    sentence1: list[str]
    sentence2: list[str]
    score: list[float]
    language: str | None = None  # the ``language`` column's value where all rows share one


STS_COLUMNS = ("sentence1", "sentence2", "score")


def load_sts(path: Path) -> STSData:
    """Read sentence pairs with gold scores from a ``.tsv`` or ``.csv`` file with a header."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"--data {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv"):
        raise EvalError(f"--data {path}: expected a .tsv or .csv file, got suffix {suffix!r}")
    fmt = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix == ".tsv" else {"delimiter": ","}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, **fmt)
        missing = [c for c in STS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EvalError(
                f"{path}: header must name {', '.join(STS_COLUMNS)}; missing {', '.join(missing)}"
            )
        s1, s2, score, langs = [], [], [], set()
        for n, row in enumerate(reader, 2):
            try:
                score.append(float(row["score"]))
            except (TypeError, ValueError):
                raise EvalError(f"{path}:{n}: score {row['score']!r} is not a number") from None
            if row["sentence1"] is None or row["sentence2"] is None:
                raise EvalError(f"{path}:{n}: a sentence column is missing on this line")
            s1.append(row["sentence1"])
            s2.append(row["sentence2"])
            langs.add((row.get("language") or "").strip())
    if len(score) < 2:
        raise EvalError(f"{path}: need at least 2 sentence pairs, found {len(score)}")
    return STSData(s1, s2, score, language=langs.pop() if len(langs) == 1 and "" not in langs else None)
