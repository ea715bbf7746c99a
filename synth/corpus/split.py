"""Train / held-out split of a corpus by source document, never by passage.

Each document id is hashed with the seed (sha256 of "{seed}\\0{doc id}"); documents sorted by that
hash, the first round(n * held_out) of them are held out, at least one and at most n - 1. So:
- the same (document ids, seed, fraction) give the same split on every machine, whatever the order
  of the passages or the chunk budget;
- the fraction is of documents, exact up to rounding (a long document weighs as much as a short one,
  so the share of held-out *passages* may differ);
- adding a document moves at most the documents at the cut, not a reshuffle of all.

    docs a, b, c, d; held_out 0.25; hashes order them c, a, d, b -> train {a, b, d}, held out {c}

A passage is on its document's side: :func:`side_of` and :func:`held_out_among` say which, so a
pipeline can assert that no passage of a held-out document reaches a training row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from typing import Literal

from synth.corpus.passages import Corpus, CorpusError

Side = Literal["train", "held_out"]


def _rank(doc_id: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\0{doc_id}".encode()).digest()


def split_documents(corpus: Corpus, held_out: float, seed: int) -> tuple[set[str], set[str]]:
    """(train document ids, held-out document ids); see the module docstring."""
    if not 0 < held_out < 1:
        raise CorpusError(f"--held-out {held_out}: must be a fraction between 0 and 1 (exclusive)")
    docs = corpus.documents()
    if len(docs) < 2:
        raise CorpusError(
            f"the corpus has {len(docs)} document(s); a held-out split needs at least 2 "
            "(give more documents, or one file per document)"
        )
    ranked = sorted(docs, key=lambda d: _rank(d, seed))
    k = min(max(round(len(docs) * held_out), 1), len(docs) - 1)
    return set(ranked[k:]), set(ranked[:k])


def side_of(corpus: Corpus, held_out_docs: Collection[str]) -> Callable[[str], Side]:
    """passage id -> "train" | "held_out", by the passage's document; an unknown id is a CorpusError."""
    held = frozenset(held_out_docs)

    def side(passage_id: str) -> Side:
        return "held_out" if corpus.by_id(passage_id).doc_id in held else "train"

    return side


def held_out_among(corpus: Corpus, held_out_docs: Collection[str], passage_ids: Iterable[str]) -> list[str]:
    """The given passage ids that belong to held-out documents, sorted, each once. For the passages
    of training rows (positives, mined negatives) this must be empty."""
    side = side_of(corpus, held_out_docs)
    return sorted({p for p in passage_ids if side(p) == "held_out"})
