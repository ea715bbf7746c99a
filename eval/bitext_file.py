"""Local bitext data: aligned sentence pairs in two languages, read with one-line errors.

A TSV whose header names the two languages and whose lines are aligned pairs (LASER's Tatoeba files
``tatoeba.kor-eng.kor`` and ``.eng`` pasted side by side give exactly this)::

    kor<TAB>eng
    안녕하세요<TAB>Hello
    ...

Line i of the first column translates line i of the second. Read without quote handling, as
sentences carry unbalanced quotes. The pair's name is ``kor-eng`` (header order).

Not handled: files without a header, more than two columns (one file per language pair), BUCC's
gold file with unaligned sentences.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from eval.errors import EvalError


@dataclass(frozen=True)
class BitextData:
    languages: tuple[str, str]  # the header: (first column, second column)
    sentences1: list[str]
    sentences2: list[str]  # sentences2[i] is the translation of sentences1[i]

    @property
    def pair(self) -> str:
        return "-".join(self.languages)


def load_bitext(path: Path) -> BitextData:
    """Read ``lang1<TAB>lang2`` and aligned pairs from a ``.tsv`` file."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"--data {path}: file not found")
    if path.suffix.lower() != ".tsv":
        raise EvalError(f"--data {path}: expected a .tsv file (header lang1<TAB>lang2), got {path.suffix!r}")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.strip() for h in next(reader, [])]
        if len(header) != 2 or not all(header) or header[0] == header[1]:
            raise EvalError(
                f"{path}:1: the header must name two different languages, e.g. kor<TAB>eng; got {header!r}"
            )
        s1, s2 = [], []
        for n, row in enumerate(reader, 2):
            if not row:
                continue  # a trailing blank line
            if len(row) != 2:
                raise EvalError(f"{path}:{n}: expected 2 tab-separated sentences, got {len(row)} field(s)")
            s1.append(row[0])
            s2.append(row[1])
    if len(s1) < 2:
        raise EvalError(f"{path}: need at least 2 aligned pairs, found {len(s1)}")
    return BitextData((header[0], header[1]), s1, s2)
