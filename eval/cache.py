"""On-disk embedding cache keyed by model and corpus, so a rerun does not encode again.

Key = sha256 over the model's fingerprint (weights and config identity, see
:func:`eval.encoder.model_fingerprint`), every setting that changes the numbers (pooling, max
length, dtype, normalisation, rope theta, instruction template) and the exact input strings in
order. One ``.npy`` file per key under ``CACHE_DIR/<model key>/``; files are written to a temporary
name and renamed, so an interrupted run never leaves a truncated entry behind. Entries are opened
as read-only memmaps, so a large cached corpus is not pulled into RAM at once.

Not handled: eviction (delete the directory to clear it), sharing one entry between runs that
differ only in batch size (batch size does not enter the key: it does not change the vectors
beyond float rounding).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def texts_key(settings: dict, texts: Sequence[str]) -> str:
    """sha256 of the settings (as sorted JSON) and the texts, each length-prefixed."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for t in texts:
        b = t.encode("utf-8")
        # Length prefix: ["ab", "c"] and ["a", "bc"] must not collide.
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class EmbeddingCache:
    """``get``/``put`` float32 (N, H) arrays under ``root/<model_key>/<key>.npy``."""

    def __init__(self, root: Path, model_key: str) -> None:
        self.dir = Path(root) / model_key[:16]
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        self.hits += 1
        log.info("embedding cache hit: %s", path)
        return np.load(path, mmap_mode="r")

    def put(self, key: str, embeddings: np.ndarray) -> np.ndarray:
        """Store, and return the stored entry as a read-only memmap (what a later ``get`` gives)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, np.ascontiguousarray(embeddings, dtype=np.float32))
        tmp.replace(self._path(key))
        return np.load(self._path(key), mmap_mode="r")
