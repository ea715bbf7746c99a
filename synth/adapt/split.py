"""Grounded rows split by source document: training rows, and a held-out BEIR dir to evaluate on.

A row belongs to the side of the document its positive passage came from (`synth.corpus`'s split
is by document, never by passage). Held-out rows never train: each held-out answer becomes one
query of the BEIR dir, relevant to every passage it was grounded in (one for grounded_query, two or
three for multi_hop). The BEIR corpus holds every passage of both sides, as a deployed retriever
would see them; training passages are distractors there. Rows without a passage (synthetic rows of
the paper's types, mixed in) train.

Weak pairs (`synth.pairs`, `source` "pairs:RULE") name their document in `call` ("DOC_ID:N"), not a
passage: they go to their document's side, and a held-out one becomes a query too (id "pairs:CALL"),
relevant to every passage of its document: a few dozen held-out LLM queries alone are too few to
choose a merge on.

    rows: g:0:0 (passage a#0, doc a: train)  g:1:0 (b#2, doc b: held out)  g:2:1 (b#0 + c#1, held out)
    -> train rows [g:0:0]; queries {g:1:0, g:2:1}; qrels {g:1:0: {b#2: 1}, g:2:1: {b#0: 1, c#1: 1}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from synth.structure.build import pair_document


@dataclass
class Split:
    train_rows: list[dict]
    queries: dict[str, str]  # query id (the answer's journal key) -> query text
    qrels: dict[str, dict[str, int]]  # query id -> {passage id: 1}
    held_out_rows: int


PAIR_QUERY = "pairs:"  # the id prefix of a held-out weak pair's query


def split_rows(
    rows: Iterable[dict],
    side_of_passage,
    side_of_document=None,
    passages_of_document=None,
    pair_queries: bool = False,
) -> Split:
    """`side_of_passage(passage_id) -> "train" | "held_out"`; for weak pairs, `side_of_document(doc_id)`
    and `passages_of_document(doc_id) -> [passage ids]`. `pair_queries`: held-out weak pairs become
    queries (else they are left out, neither training nor evaluating)."""
    train: list[dict] = []
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    held_out = 0
    for row in rows:
        doc = pair_document(row)
        if doc is not None:
            if side_of_document(doc) == "train":
                train.append(row)
            else:
                held_out += 1
                if pair_queries:
                    qid = f"{PAIR_QUERY}{row['call']}"
                    queries[qid] = row["query"]
                    qrels[qid].update({p: 1 for p in passages_of_document(doc)})
            continue
        passage = row.get("passage_id")
        if not passage or side_of_passage(passage) == "train":
            train.append(row)
            continue
        held_out += 1
        qid = row["call"]
        queries[qid] = row["query"]
        qrels[qid][passage] = 1
    return Split(train, queries, dict(qrels), held_out)


def leaked(train_rows: Iterable[dict], side_of_passage, side_of_document=None) -> list[str]:
    """Passage ids (and weak pairs' document ids) of held-out documents found in training rows:
    must be empty."""
    found = {
        r["passage_id"]
        for r in train_rows
        if r.get("passage_id") and side_of_passage(r["passage_id"]) != "train"
    }
    if side_of_document is not None:
        docs = (pair_document(r) for r in train_rows)
        found |= {d for d in docs if d is not None and side_of_document(d) != "train"}
    return sorted(found)
