"""What `synth.generate --corpus` sets up before the first call: the passages, their split sides (a
corpus dir prepared by synth.adapt carries split.json), the multi-hop neighbours, and the mix.

    corpus, grounding, mix, notice = ground(cfg_corpus, chunk_tokens, seed, mix, named, neighbour_model, out)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from synth.corpus import PASSAGES_FILE, Corpus, load_corpus, side_of
from synth.plan.grounding import Grounding, load_or_build_neighbours

SPLIT_FILE = "split.json"  # {"documents": {doc_id: "train" | "held_out"}}, written by synth.adapt


_ROW_OF_FILE = re.compile(r":\d+$")  # a passage's source "docs.jsonl:17": line 17 of docs.jsonl


def corpus_section(path: Path, chunk_tokens: int, corpus: Corpus) -> dict:
    """What a grounded run read, for stats.json, the dry run's plan and the card: the corpus path,
    its files, documents and passages, and the chunking (a pre-chunked corpus keeps its passages)."""
    prechunked = path.is_dir() and (path / PASSAGES_FILE).is_file()
    files = {_ROW_OF_FILE.sub("", p.source) for p in corpus.passages}
    return {
        "path": path.name,
        "files": len(files),
        "documents": len(corpus.documents()),
        "passages": len(corpus),
        "chunk_tokens": None if prechunked else chunk_tokens,
        "fingerprint": corpus.fingerprint[:16],
    }


def needs_neighbours(mix: dict[str, float]) -> bool:
    from synth.plan.tasks import TASK_TYPES

    return any(TASK_TYPES[t].passages > 1 for t in mix)


def drop_multi_hop(mix: dict[str, float], named: set[str], neighbour_model: str | None):
    """(mix, notice): multi-hop types need --neighbour-model; left out of a default mix without it,
    an error when the user named one."""
    from synth.plan.tasks import TASK_TYPES

    if neighbour_model or not needs_neighbours(mix):
        return mix, None
    multi = [t for t in mix if TASK_TYPES[t].passages > 1]
    if set(multi) & named:
        raise ValueError(
            f"--task-types: {', '.join(multi)} needs --neighbour-model (an embedder for related passages)"
        )
    rest = {t: w for t, w in mix.items() if t not in multi}
    return rest, f"note: no --neighbour-model, so {', '.join(multi)} is left out of the task mix"


def ground(
    path: Path,
    chunk_tokens: int,
    seed: int,
    mix: dict[str, float],
    neighbour_model: str | None,
    out: Path,
    device: str = "auto",
) -> tuple[Corpus, Grounding]:
    corpus = load_corpus(path, chunk_tokens=chunk_tokens)
    split = path / SPLIT_FILE if path.is_dir() else None
    side = None
    if split is not None and split.exists():
        held = {d for d, s in json.loads(split.read_text())["documents"].items() if s == "held_out"}
        side = side_of(corpus, held)
    neighbours = None
    if needs_neighbours(mix):
        ids = [p.id for p in corpus.passages]
        neighbours = load_or_build_neighbours(
            out / ".synth" / "neighbours.json",
            ids,
            [p.document for p in corpus.passages],
            _embedder(neighbour_model, device),
        )
    return corpus, Grounding([p.id for p in corpus.passages], seed, neighbours, side)


def _embedder(model: str | None, device: str):
    if not model:
        return None

    def embed(texts: list[str]):
        from synth.mining.embedder import STEncoder

        encoder = STEncoder.load(model, device=device, query_format="plain", batch_size=64, progress=False)
        return encoder.encode_documents(texts)

    return embed
