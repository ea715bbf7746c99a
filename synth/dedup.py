"""Exact and near-duplicate detection over queries, positives and brainstormed tasks.

Exact: texts equal after `synth.text.normalize` (case, width, punctuation, whitespace).
Near: MinHash LSH (datasketch) over character n-grams of the normalised text, spaces removed, so
the same shingles work for Chinese, Japanese or Thai as for English. Unspaced scripts use shorter
n-grams because one character carries more of a word there.

Shingle hashes are computed with numpy in one pass per text (a polynomial hash over code points)
and handed to datasketch as ready hashes: its default SHA-1 per shingle would dominate the
generator's CPU time.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from datasketch import MinHash, MinHashLSH

try:  # datasketch's own pre-mix of input hashes ("affine32" scheme, datasketch >= 2.0)
    from datasketch.minhash import _fmix
except ImportError:  # pragma: no cover - other datasketch versions take the slower public path
    _fmix = None

from synth.text import normalize

NUM_PERM = 128
THRESHOLD = 0.8  # estimated Jaccard similarity of shingle sets above which two texts are duplicates
MIN_SHINGLES = 8  # below this MinHash estimates are noise: short texts get exact dedup only
_MASK32 = np.uint64(0xFFFFFFFF)
_BASE = np.uint64(1_000_003)


# Thai, Lao, Burmese, Khmer, kana, CJK ideographs, Hangul syllables.
_UNSPACED_CHARS = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"
)


def _unspaced_share(text: str) -> float:
    return len(_UNSPACED_CHARS.findall(text)) / max(len(text), 1)


def shingle_hashes(normalized: str) -> np.ndarray:
    """32-bit hashes of the distinct character n-grams of a normalised text (n=3 for unspaced
    scripts, 5 otherwise).

    >>> len(shingle_hashes("abcdef"))  # "abcde", "bcdef"
    2
    """
    compact = normalized.replace(" ", "")
    n = 3 if _unspaced_share(compact) > 0.5 else 5
    codes = np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        return np.empty(0, dtype=np.uint32)
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    for j in range(n):  # (h * B + c) over the window; uint64 wraps, which is fine for hashing
        h = h * _BASE + codes[j : j + len(h)]
    return np.unique((h ^ (h >> np.uint64(29))) & _MASK32).astype(np.uint32)


def _identity(value):
    return value


class Signer:
    """Fingerprints of texts: an exact key of the normalised text and a MinHash signature.

    Stateless apart from its permutations (the same in every process, from datasketch's fixed
    seed), so fingerprints can be computed in worker processes and checked in the main one."""

    def __init__(self, num_perm: int = NUM_PERM):
        self.num_perm = num_perm
        self.template = MinHash(num_perm=num_perm, hashfunc=_identity)  # permutations made once
        self._a, self._b = self.template.permutations
        self._buffer = np.empty((num_perm, 0), dtype=np.uint32)

    def fingerprint(self, text: str) -> tuple[bytes, np.ndarray | None]:
        """(16-byte key of the normalised text, MinHash values or None for a text too short)."""
        norm = normalize(text)
        key = hashlib.blake2b(norm.encode(), digest_size=16).digest()
        m = self.minhash(norm)
        return key, None if m is None else m.hashvalues

    def minhash(self, normalized: str) -> MinHash | None:
        hashes = shingle_hashes(normalized)
        if len(hashes) < MIN_SHINGLES:
            return None
        m = self.template.copy()
        if _fmix is not None and m.scheme == "affine32":
            # What update_batch computes, without its per-shingle Python loop over hashfunc.
            m.hashvalues = np.minimum(m.hashvalues, self._permuted_min(_fmix(hashes, 32)))
        else:
            m.update_batch(hashes)
        return m

    def _permuted_min(self, hv: np.ndarray) -> np.ndarray:
        """min over shingles of (a * hv + b) mod 2^32, per permutation: (S,) -> (P,).

        The (P, S) work array is reused between texts: a fresh one per text is large enough for
        numpy to map and unmap it each time, and the page faults cost more than the arithmetic."""
        if self._buffer.shape[1] < len(hv):
            self._buffer = np.empty((self.num_perm, 2 * len(hv)), dtype=np.uint32)
        work = self._buffer[:, : len(hv)]
        np.multiply(self._a[:, None], hv[None, :], out=work)  # (P, S); uint32 wraps by design
        np.add(work, self._b[:, None], out=work)
        return work.min(axis=1)


Fingerprint = tuple[bytes, "np.ndarray | None"]


class Deduper:
    """Keeps the first text of each duplicate group, in the order texts are offered."""

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        # Weighted towards recall: LSH only proposes candidates, and each candidate is confirmed
        # by its estimated Jaccard similarity, which removes the extra false positives.
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
        self.signer = Signer(num_perm)
        self._signatures: list[MinHash] = []
        self.exact: set[bytes] = set()

    def minhash(self, normalized: str) -> MinHash | None:
        return self.signer.minhash(normalized)

    def check(self, texts: list[str], fingerprints: list[Fingerprint] | None = None) -> str | None:
        """'exact' or 'near' if any text duplicates an earlier kept one, else None (and the texts
        are remembered). A group of texts is accepted or rejected whole: a row, say.
        `fingerprints` (from `Signer.fingerprint`, maybe computed elsewhere) saves recomputing."""
        if fingerprints is None:
            fingerprints = [self.signer.fingerprint(t) for t in texts]
        keys = [key for key, _ in fingerprints]
        if any(k in self.exact for k in keys):
            return "exact"
        hashes = [self._as_minhash(values) for _, values in fingerprints]
        if any(m is not None and self._near(m) for m in hashes):
            return "near"
        self.exact.update(keys)
        for m in hashes:
            if m is not None:
                self.lsh.insert(len(self._signatures), m, check_duplication=False)
                self._signatures.append(m)
        return None

    def _as_minhash(self, values: np.ndarray | None) -> MinHash | None:
        if values is None:
            return None
        m = self.signer.template.copy()
        m.hashvalues = values
        return m

    def _near(self, m: MinHash) -> bool:
        return any(m.jaccard(self._signatures[key]) >= self.threshold for key in self.lsh.query(m))
