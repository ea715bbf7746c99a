"""Relabel mode's candidates: each grounded row's query, its top-k corpus passages, the seed among them.

The corpus is embedded once with `--embed-model` (`synth.mining.embedder.STEncoder`) and each distinct
(instruction, query) searched exactly (cosine, in blocks). The seed passage (the row's own positive)
is always a candidate: when retrieval ranks it below k, it takes the k-th place. Candidates are shown
in an order shuffled by a seed of the candidate set alone, so neither the seed nor the retriever's
favourite sits in a fixed place (judges prefer some positions).

What was retrieved is kept in `OUT/.synth/judge_candidates.json`, written before any call: a rerun
(on another device too, where float sums differ) shows the judge the very same prompts, so the
journal answers them, and it does not embed the corpus again. A cache made with another model,
top-k, query format or corpus is not used.

    top-3 for "q" = [p7, p2, p9], seed p4 -> candidates {p7, p2, p4}, shown as e.g. [p2, p4, p7]
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np

from synth.dataset.dataset import write_json

CACHE_FORMAT = 1
log = logging.getLogger("synth.judge")


def load_corpus(path: Path):
    """The passages file synth.corpus saves (or the dir holding it); CorpusError names the path."""
    from synth.corpus import PASSAGES_FILE, load_passages

    return load_passages(path / PASSAGES_FILE if path.is_dir() else path)


def top_k(queries: np.ndarray, docs: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """(Q, H), (N, H) unit rows -> (Q, min(k, N)) indices of the most similar docs, best first; ties by index.

    >>> top_k(np.array([[1.0, 0.0]]), np.array([[0, 1], [0.6, 0.8], [1, 0]], dtype=float), 2).tolist()
    [[2, 1]]
    """
    k = min(k, docs.shape[0])
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], block):
        scores = queries[start : start + block] @ docs.T  # (b, N)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # exact, and stable on ties
        out[start : start + scores.shape[0]] = order
    return out


def _cache_key(settings: dict) -> dict:
    return {"format": CACHE_FORMAT, **settings}


def retrieve(
    queries: list[tuple[str, str]], corpus, encoder_factory, settings: dict, cache: Path
) -> dict[tuple[str, str], list[str]]:
    """(instruction, query) -> the ids of its top-k passages, from the cache where it holds them.
    `encoder_factory()` loads the embedder, only when something must be embedded."""
    known: dict[str, list[str]] = {}
    if cache.exists():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if {k: saved.get(k) for k in _cache_key(settings)} == _cache_key(settings):
            known = saved["retrieved"]
        else:
            log.info("%s: made with other settings; retrieving again", cache)
    keys = {q: json.dumps(q, ensure_ascii=False) for q in queries}
    missing = [q for q in queries if keys[q] not in known]
    if missing:
        encoder = encoder_factory()
        docs = encoder.encode_documents([p.document for p in corpus.passages])  # (N, H)
        embedded = encoder.encode_queries([i for i, _ in missing], [q for _, q in missing])  # (Q, H)
        index = top_k(embedded, docs, settings["top_k"])
        ids = [p.id for p in corpus.passages]
        known.update({keys[q]: [ids[j] for j in row] for q, row in zip(missing, index, strict=True)})
        write_json(cache, {**_cache_key(settings), "retrieved": known})  # before any call uses them
    return {q: known[keys[q]] for q in queries}


def candidates(retrieved: list[str], seed_id: str, k: int, shuffle_seed: int) -> list[str]:
    """The ids shown to the judge: the top k with the seed in them, in a seeded shuffled order.

    >>> sorted(candidates(["a", "b", "c"], "z", 3, 0))
    ['a', 'b', 'z']
    """
    chosen = retrieved[:k] if seed_id in retrieved[:k] else [*retrieved[: k - 1], seed_id]
    order = sorted(chosen)
    random.Random(f"{shuffle_seed}:{json.dumps(order)}").shuffle(order)
    return order


def relabel_items(cfg, rows: list[dict], state: Path) -> tuple[list, dict[int, str], dict]:
    """Relabel mode's items, the rows passing through, and stats.json's `retrieval` section.
    Raises CorpusError (the corpus), EmbedderError (the model) or ValueError (a corpus that does not
    hold the rows' passages), each one line."""
    from synth.judge.plan import plan_relabel, relabel_passthrough
    from synth.mining.embedder import STEncoder

    passthrough = relabel_passthrough(rows)
    corpus = load_corpus(cfg.corpus)
    eligible = [i for i in range(len(rows)) if i not in passthrough]
    absent = sum(1 for i in eligible if rows[i]["passage_id"] not in corpus)
    if eligible and absent == len(eligible):
        raise ValueError(
            f"--corpus: none of the {len(eligible)} grounded rows' passage ids is in {cfg.corpus}; "
            "give the corpus these rows were generated from"
        )
    queries = list(dict.fromkeys((rows[i]["instruction"], rows[i]["query"]) for i in eligible))
    settings = {
        "embed_model": cfg.embed_model,
        "query_format": cfg.query_format,
        "top_k": cfg.top_k,
        "corpus": corpus.fingerprint,
    }

    def encoder():
        return STEncoder.load(
            cfg.embed_model,
            device=cfg.device,
            query_format=cfg.query_format,
            batch_size=cfg.batch_size,
            progress=cfg.progress,
        )

    retrieved = (
        retrieve(queries, corpus, encoder, settings, state / "judge_candidates.json") if queries else {}
    )
    shown: dict[int, tuple[list[str | None], list[str]]] = {}
    seed_in_top_k = 0
    for i in eligible:
        row = rows[i]
        top = retrieved[row["instruction"], row["query"]]
        seed_in_top_k += row["passage_id"] in top[: cfg.top_k]
        ids = candidates(top, row["passage_id"], cfg.top_k, cfg.seed)
        texts = [row["positive"] if pid == row["passage_id"] else corpus.index[pid].document for pid in ids]
        shown[i] = (ids, texts)
    retrieval = {
        "embed_model": cfg.embed_model,
        "query_format": cfg.query_format,
        "top_k": cfg.top_k,
        "corpus": str(cfg.corpus),
        "passages": len(corpus),
        "queries": len(queries),
        "seed_in_top_k": seed_in_top_k,
        "seed_not_in_corpus": absent,
    }
    return plan_relabel(rows, shown), passthrough, retrieval
