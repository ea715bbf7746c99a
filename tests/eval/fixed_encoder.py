"""An encoder whose vectors are fixed in advance, so two evaluators can be fed the SAME embeddings.

The equivalence tests compare our scoring with mteb's. Encoding both through the real model would
make the comparison depend on the day's libraries: the tiny test models give nearly parallel vectors
(cosines within ~1e-3 of each other), so float32 rounding in the two scoring paths (numpy's cosine vs
sklearn's ``1 - paired_cosine_distances``) moves Pearson by ~1e-6. Here the vectors are random
float32 with a real spread of cosines, every text gets its vector from a table, and the
instruction changes the vector (a wrong instruction on either side shows in the scores).

    enc = FixedEncoder({"a": np.ones(8)}); enc.encode(["a"]) -> the unit vector of np.ones(8)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np


def _noise(seed_text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim)


class FixedEncoder:
    """A ``TextEncoder`` (and enough of :class:`eval.encoder.Encoder` for ``MtebEncoder``) over a table."""

    def __init__(self, vectors: Mapping[str, np.ndarray], takes_instructions: bool = True) -> None:
        self.vectors = {t: np.asarray(v, dtype=np.float64) for t, v in vectors.items()}
        self.dim = len(next(iter(self.vectors.values())))
        self.takes_instructions = takes_instructions
        self.spec = SimpleNamespace(name="fixed-vectors", fingerprint="0" * 64, max_length=512)
        self.instructions: list[str | None] = []  # what each encode call was given

    def encode(
        self, texts: Sequence[str], *, instruction: str | None = None, normalize: bool | None = None
    ) -> np.ndarray:
        self.instructions.append(instruction)
        rows = []
        for t in texts:
            v = self.vectors[t]
            if instruction:  # a different, still related vector per instruction
                v = v + 0.5 * _noise(instruction + "\n" + t, self.dim)
            rows.append(v / np.linalg.norm(v) if normalize is not False else v)
        return np.asarray(rows, dtype=np.float32)  # (N, H), as the real encoder returns
