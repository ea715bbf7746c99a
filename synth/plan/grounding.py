"""Which corpus passages each grounded call reads (task types declared with `passages`).

The j-th call of a grounded type reads passage `order[j mod N]` of a seeded permutation of the
corpus, so every passage is asked about before any is asked twice, and call j reads the same
passage in every run. A multi-hop call adds the anchor's nearest neighbours (cosine of embeddings,
computed once with `--neighbour-model` and kept in `.synth/neighbours.json`, so a resumed run on
another machine asks the same questions), taken from the anchor's own side of a held-out split when
one is given: a multi-hop question never mixes training and held-out documents.

    order = [2, 0, 1]; neighbours[2] = [0, 1] -> call 0 (hops 2) reads passages (2, 0)
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

NEIGHBOURS_KEPT = 8  # candidates kept per passage: enough for 3 hops after the split filter
NEIGHBOURS_FORMAT = 1


def nearest(embeddings: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """(N, H) unit rows -> (N, k) indices of each row's k most similar other rows, best first.

    >>> nearest(np.array([[1, 0], [0.9, 0.436], [0, 1.0]], dtype=np.float32), 1).tolist()
    [[1], [0], [1]]
    """
    n = embeddings.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        scores = embeddings[start : start + block] @ embeddings.T  # (b, N)
        rows = np.arange(scores.shape[0])
        scores[rows, rows + start] = -np.inf  # never one's own neighbour
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.argsort(-scores, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        out[start : start + scores.shape[0]] = np.take_along_axis(top, order, axis=1)
    return out


class Grounding:
    def __init__(
        self,
        passage_ids: list[str],
        seed: int,
        neighbours: dict[str, list[str]] | None = None,
        side_of: Callable[[str], str] | None = None,
    ):
        self.ids = passage_ids
        self.order = list(range(len(passage_ids)))
        random.Random(f"{seed}:passages").shuffle(self.order)
        self.neighbours = neighbours or {}
        self.side_of = side_of  # passage id -> "train" | "held_out", when the corpus was split

    def passages_for(self, j: int, hops: int = 1) -> tuple[str, ...]:
        """The passage ids the j-th call of a grounded type reads: an anchor and hops-1 neighbours
        (fewer when the anchor has fewer on its side of the split)."""
        anchor = self.ids[self.order[j % len(self.ids)]]
        if hops <= 1:
            return (anchor,)
        if anchor not in self.neighbours:
            raise ValueError("multi-hop calls need passage neighbours: give --neighbour-model")
        side = self.side_of(anchor) if self.side_of else None
        partners = [p for p in self.neighbours[anchor] if side is None or self.side_of(p) == side]
        return (anchor, *partners[: hops - 1])


def load_or_build_neighbours(
    path: Path, passage_ids: list[str], texts: list[str], embed: Callable[[list[str]], np.ndarray] | None
) -> dict[str, list[str]]:
    """The neighbours file of a run, or new neighbours from `embed` (texts -> (N, H) unit rows),
    written before they are used. A file for other passages is a one-line error."""
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("passages") != len(passage_ids) or saved.get("first") != passage_ids[:1]:
            raise ValueError(f"{path}: neighbours of another corpus; use a new --out")
        return saved["neighbours"]
    if embed is None:
        raise ValueError("multi-hop calls need passage neighbours: give --neighbour-model")
    index = nearest(np.asarray(embed(texts), dtype=np.float32), NEIGHBOURS_KEPT)
    neighbours = {pid: [passage_ids[j] for j in row] for pid, row in zip(passage_ids, index, strict=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "format": NEIGHBOURS_FORMAT,
                "passages": len(passage_ids),
                "first": passage_ids[:1],
                "neighbours": neighbours,
            }
        )
    )
    tmp.replace(path)
    return neighbours
