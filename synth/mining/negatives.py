"""Hard negatives mined from a dataset's own positives, within each (task type, language) group.

Each row's query is embedded (the encoder decides the query format) and so is every distinct positive
of its group; the k nearest positives other than its own, minus probable false negatives
(:class:`synth.mining.neighbours.Guard`), become the row's `mined_negatives`, best first. With
`consistency_k`, a row whose own positive ranks below k among its group's positives for its own
query is dropped: the consistency filter of E5 (Wang et al., 2022), which kept a pair only if a
model ranked its positive in the top 2.

    rows (retrieval, en): "how to bake apple pie"    -> positive "apple pie recipe"
                          "how to bake banana bread" -> positive "banana bread recipe"
                          "fix a car engine"         -> positive "car engine repair manual"
    k 1 -> the apple-pie row gets ["banana bread recipe"] (the nearer topic), never its own positive.

Positives are pooled by normalised text (:func:`synth.checks.text.normalize`), so a positive spelled with
other case or punctuation is the same pool item as the row's own and is never its negative. Also never
a row's negative: the positives of other rows asking the same query, the query's own text, and the
row's LLM-written `negative` (already in its own column). With `extra` passages (the training passages
of a corpus, `synth.mine --corpus`), every group's pool holds them too, after its positives: a
passage equal to a row's own positive is that positive, and never its negative.

Nor is a text of the row's own passage or document, where rows name them: a grounded row's
`passage_id` ("DOC#N"), a weak pair's document (`call` "DOC:N"), an `extra` passage's id. The corpus
holds a grounded row's passage as "title text" while its positive is the text, and a document's title
-> body pair holds the conclusion sentence its last_sentence pair asks: each scores near the
positive, so it became the row's first "negative" and pushed the positive down the consistency
filter's ranking (synth.adapt on SciFact: 359 of 4,016 rows had one). A weak pair is about its whole
document, so every text of that document is excluded for it, and its positive for every row of that
document; a grounded row's other passages of a long document stay its candidates.

    rows: "q1" -> "body A" (pair of doc a)   extra: ("A title body A", "a#0"), ("B title body B", "b#0")
    -> row q1's candidates: only "B title body B"
Not handled: mining across groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tqdm import tqdm

from synth.checks.text import normalize
from synth.corpus.passages import document_of
from synth.mining.neighbours import Guard, nearest_negatives
from synth.structure.build import pair_document

ExtraPassage = tuple[str, str | None]  # (text, its passage id "DOC#N", None if unknown)


class Encoder(Protocol):
    """What mining needs from an embedding model: (N, H) vectors, one row per input text."""

    def encode_queries(self, instructions: list[str], queries: list[str]) -> np.ndarray: ...

    def encode_documents(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class MiningOptions:
    num_negatives: int = 7  # mined negatives per row (fewer where the group's pool is smaller)
    guard: Guard = field(default_factory=Guard)  # which candidates are probable false negatives
    by_language: bool = True  # mine within (task type, language) groups; False: within task type only
    consistency_k: int | None = None  # drop rows whose positive ranks below this; None: keep all

    def __post_init__(self) -> None:
        if self.num_negatives < 1:
            raise ValueError(f"--num-negatives must be at least 1, got {self.num_negatives}")
        if self.consistency_k is not None and self.consistency_k < 1:
            raise ValueError(f"--consistency-k must be at least 1, got {self.consistency_k}")


@dataclass
class Group:
    rows: list[int]  # row numbers in the input
    texts: list[str]  # distinct positives by normalised text, first spelling kept
    own: list[int]  # per row: its positive's index in `texts`
    exclude: list[list[int]]  # per row: indices in `texts` that are never its negatives


@dataclass
class Mined:
    negatives: list[list[str]]  # per input row, best first
    ranks: list[int]  # per input row: 1-based rank of its positive for its own query
    keep: list[bool]  # False where the consistency filter dropped the row
    skipped: int  # candidates skipped as probable false negatives, over all rows
    pools: dict[str, int]  # group -> distinct texts in its pool (positives, then corpus passages)

    @property
    def dropped(self) -> int:
        return self.keep.count(False)


def group_key(row: dict, by_language: bool) -> str:
    if not by_language:
        return row["task_type"]
    # Bitext positives are in the pair's second language, so a bitext group is one language pair.
    return f"{row['task_type']}/{row.get('language_pair') or row['language']}"


def row_source(row: dict) -> tuple[str | None, str | None]:
    """(document, passage) a row's positive came from: a weak pair's document (no passage), a grounded
    row's passage and its document; (None, None) for rows that name neither."""
    if (doc := pair_document(row)) is not None:
        return doc, None
    passage = row.get("passage_id")
    return (document_of(passage), passage) if passage else (None, None)


def build_groups(rows: list[dict], by_language: bool, extra: Sequence[ExtraPassage] = ()) -> dict[str, Group]:
    members: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        members[group_key(row, by_language)].append(i)
    return {key: _group(rows, idx, extra) for key, idx in sorted(members.items())}


def _group(rows: list[dict], idx: list[int], extra: Sequence[ExtraPassage] = ()) -> Group:
    slot: dict[str, int] = {}
    texts: list[str] = []
    # Pool texts by where they came from: every text of a document; a passage's texts; the texts of a
    # document's weak pairs, which stand for the whole document.
    in_document: dict[str, set[int]] = defaultdict(set)
    in_passage: dict[str, set[int]] = defaultdict(set)
    of_document: dict[str, set[int]] = defaultdict(set)
    sources = [row_source(rows[i]) for i in idx]
    entries = [(rows[i]["positive"], source) for i, source in zip(idx, sources, strict=True)]
    entries += [(text, (document_of(p), p) if p else (None, None)) for text, p in extra]
    for text, (doc, passage) in entries:
        key = normalize(text)
        if key not in slot:
            slot[key] = len(texts)
            texts.append(text)
        if doc is not None:
            in_document[doc].add(slot[key])
            (in_passage[passage] if passage else of_document[doc]).add(slot[key])
    own = [slot[normalize(rows[i]["positive"])] for i in idx]
    answers: dict[str, set[int]] = defaultdict(set)  # a query asked in several rows has several positives
    for i, o in zip(idx, own, strict=True):
        answers[normalize(rows[i]["query"])].add(o)
    exclude = []
    for i, o, (doc, passage) in zip(idx, own, sources, strict=True):
        never = set(answers[normalize(rows[i]["query"])])
        if passage is not None:
            never |= in_passage[passage] | of_document[doc]
        elif doc is not None:
            never |= in_document[doc]
        for text in (rows[i]["query"], rows[i].get("negative")):
            if text and (j := slot.get(normalize(text))) is not None:
                never.add(j)
        exclude.append(sorted(never - {o}))
    return Group(idx, texts, own, exclude)


def mine(
    rows: list[dict],
    encoder: Encoder,
    options: MiningOptions,
    progress: bool = False,
    device: str = "cpu",
    extra: Sequence[ExtraPassage] = (),
) -> Mined:
    """Mined negatives, ranks and the consistency verdict for every row, in input order.

    `device`: where the search runs (torch device; the encoder's own is a good choice). `extra`:
    more candidates for every group (a corpus's passages), each with its passage id.
    """
    groups = build_groups(rows, options.by_language, extra)
    documents = list(dict.fromkeys(t for g in groups.values() for t in g.texts))
    pairs = list(dict.fromkeys((r.get("instruction") or "", r["query"]) for r in rows))
    doc_slot = {t: i for i, t in enumerate(documents)}
    pair_slot = {p: i for i, p in enumerate(pairs)}
    q_emb = encoder.encode_queries([p[0] for p in pairs], [p[1] for p in pairs])  # (distinct queries, H)
    d_emb = encoder.encode_documents(documents)  # (distinct positives, H)
    assert q_emb.shape[0] == len(pairs) and d_emb.shape[0] == len(documents), "one embedding per text"

    negatives: list[list[str]] = [[] for _ in rows]
    ranks = [1] * len(rows)
    skipped = 0
    with tqdm(total=len(rows), unit="row", desc="mine", disable=not progress) as bar:
        for group in groups.values():
            q_rows = [pair_slot[(rows[i].get("instruction") or "", rows[i]["query"])] for i in group.rows]
            found = nearest_negatives(
                q_emb[q_rows],
                d_emb[[doc_slot[t] for t in group.texts]],
                np.asarray(group.own),
                group.exclude,
                options.num_negatives,
                options.guard,
                device,
            )
            for row, idx, rank in zip(group.rows, found.index.tolist(), found.rank.tolist(), strict=True):
                negatives[row] = [group.texts[j] for j in idx if j >= 0]
                ranks[row] = rank
            skipped += int(found.skipped.sum())
            bar.update(len(group.rows))
    k = options.consistency_k
    keep = [k is None or rank <= k for rank in ranks]
    return Mined(negatives, ranks, keep, skipped, {key: len(g.texts) for key, g in groups.items()})
