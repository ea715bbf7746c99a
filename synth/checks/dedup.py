"""Exact and near-duplicate detection over queries, positives and brainstormed tasks.

Exact: texts equal after `synth.checks.text.normalize` (case, width, punctuation, whitespace).
Near: estimated Jaccard similarity >= THRESHOLD of the texts' character-shingle sets, from the
MinHash signatures of `synth.checks.minhash` (which says what is compared and how it is signed). Candidate
pairs come from LSH banding (BANDS bands of the signature) and are confirmed by their estimate.

Order matters: the first row of a duplicate group is kept, a row being a group of texts (a query
and its positive, say) kept or dropped whole. `Deduper.check` takes one row at a time, as the
generator folds answers (about 0.1 ms a row); `Deduper.check_many` takes a batch of rows and gives
the same verdicts as `check` on each row in turn, resolving in order only the rows that share an
exact key or a band with something (bench/dedup.py: ~34k query-and-positive rows/s, one core).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import compress

import numpy as np

from synth.checks.minhash import NUM_BINS, Fingerprint, Fingerprints, Signer

__all__ = ["BANDS", "THRESHOLD", "Deduper", "Fingerprint", "Fingerprints", "Signer", "band_keys"]

THRESHOLD = 0.8  # estimated Jaccard similarity of shingle sets at or above which texts are duplicates
BANDS = 16  # LSH bands of NUM_BINS // BANDS bins: P(candidate) is 0.95 at Jaccard 0.8, 0.06 at 0.5
_PAIRS = NUM_BINS // 2 // BANDS  # bin pairs per band
_BAND_MULT = (  # odd multipliers, one per bin pair of a band: (_PAIRS, BANDS) uint64
    (np.arange(1, NUM_BINS // 2 + 1, dtype=np.uint64) * np.uint64(0xC4CEB9FE1A85EC53)) | np.uint64(1)
).reshape(_PAIRS, BANDS)


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """One 64-bit key per band of each signature: (T, NUM_BINS) -> (T, BANDS). Two texts share a
    band's key when all the band's bins agree (or, once in 2^64, by chance).

    Band b is the bin pairs b, b + BANDS, b + 2 * BANDS, ... (pair w = bins 2w and 2w + 1), spread
    round the signature rather than adjacent: a short text's empty bins copy filled ones, and a band
    of bins all copied from one would make two texts sharing that single shingle candidates."""
    pairs = np.ascontiguousarray(signatures).view(np.uint64)  # (T, NUM_BINS // 2)
    keys = pairs[:, :BANDS] * _BAND_MULT[0]
    for r in range(1, _PAIRS):
        keys += pairs[:, r * BANDS : (r + 1) * BANDS] * _BAND_MULT[r]
    return keys


class _BandIndex:
    """Band keys of kept texts -> their ids, as sorted runs (a log-structured merge): each chunk
    adds a run, and the newest two merge while the older is at most twice the newer, so a lookup
    searches O(log n) runs and each key is copied O(log n) times. Numpy arrays rather than a dict:
    a dict entry per key would cost ~100 bytes, 16 keys a text."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted uint64 keys, int64 ids)

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Add `keys` (sorted) of texts `ids`."""
        if not len(keys):
            return
        self._runs.append((keys, ids))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (k1, i1), (k2, i2) = self._runs.pop(-2), self._runs.pop()
            self._runs.append(_merge(k1, i1, k2, i2))

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index in `queries`, id) for every stored key equal to a query; `queries` sorted, so
        each run is walked once."""
        at, ids = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
        for keys, run_ids in self._runs:
            lo = np.searchsorted(keys, queries)
            hit = np.flatnonzero(keys[np.minimum(lo, len(keys) - 1)] == queries)
            if not len(hit):
                continue
            lo = lo[hit]
            count = np.searchsorted(keys, queries[hit], "right") - lo
            within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            at.append(np.repeat(hit, count))
            ids.append(run_ids[np.repeat(lo, count) + within])
        return np.concatenate(at), np.concatenate(ids)


def _merge(k1: np.ndarray, i1: np.ndarray, k2: np.ndarray, i2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two sorted runs (keys, ids) as one: [1, 4] + [2, 9] -> [1, 2, 4, 9]."""
    to = np.searchsorted(k1, k2, "right") + np.arange(len(k2))  # where k2's keys land
    from1 = np.ones(len(k1) + len(k2), dtype=bool)
    from1[to] = False
    keys, ids = np.empty_like(from1, dtype=k1.dtype), np.empty_like(from1, dtype=i1.dtype)
    keys[to], ids[to] = k2, i2
    keys[from1], ids[from1] = k1, i1
    return keys, ids


class _Signatures:
    """Signatures of kept texts by id, in fixed-size blocks, so that storing never copies what is
    already stored (a doubling array would copy, and fault in, twice the memory)."""

    BLOCK = 1 << 14  # rows per block (8 MiB, touched only as it fills)

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self.count = 0

    def append(self, signatures: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Store `signatures[rows]` ((N, NUM_BINS), copied once); return their ids."""
        ids = np.arange(self.count, self.count + len(rows))
        done = 0
        while done < len(rows):
            block, offset = divmod(self.count, self.BLOCK)
            if block == len(self._blocks):
                self._blocks.append(np.empty((self.BLOCK, NUM_BINS), dtype=np.uint32))
            n = min(self.BLOCK - offset, len(rows) - done)
            np.take(signatures, rows[done : done + n], axis=0, out=self._blocks[block][offset : offset + n])
            done, self.count = done + n, self.count + n
        return ids

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(ids), NUM_BINS), dtype=np.uint32)
        block = ids // self.BLOCK
        for b in np.unique(block):
            mask = block == b
            out[mask] = self._blocks[b][ids[mask] % self.BLOCK]
        return out


class Deduper:
    """Keeps the first row of each duplicate group, in the order rows are offered. Texts of one row
    are not compared with each other."""

    CHUNK_ROWS = 65_536  # rows resolved per pass of `check_many`: bounds its temporary arrays

    def __init__(self, threshold: float = THRESHOLD):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._min_agree = math.ceil(threshold * NUM_BINS - 1e-9)  # agreeing bins to be a duplicate
        self.signer = Signer()
        self.exact: set[bytes] = set()
        self._index = _BandIndex()
        self._signatures = _Signatures()

    def check(self, texts: Sequence[str], fingerprints: Sequence[Fingerprint] | None = None) -> str | None:
        """'exact' or 'near' if a text duplicates one of an earlier kept row, else None (and the
        row is remembered). `fingerprints` (`Signer.fingerprint` of each text, maybe computed
        elsewhere) saves recomputing them."""
        fps = self.signer.fingerprint_many(texts) if fingerprints is None else Fingerprints.of(fingerprints)
        return self._check_chunk([0, len(fps)], fps)[0]

    def check_many(
        self, rows: Sequence[Sequence[str]], fingerprints: Fingerprints | None = None
    ) -> list[str | None]:
        """`[self.check(row) for row in rows]`, batched. `fingerprints`, if given, are
        `Signer.fingerprint_many` of the rows' texts in order."""
        bounds = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(row) for row in rows], out=bounds[1:])
        if fingerprints is not None and len(fingerprints) != bounds[-1]:
            raise ValueError(f"{len(fingerprints)} fingerprints for {bounds[-1]} texts")
        verdicts: list[str | None] = []
        for start in range(0, len(rows), self.CHUNK_ROWS):
            stop = min(start + self.CHUNK_ROWS, len(rows))
            lo, hi = int(bounds[start]), int(bounds[stop])
            if fingerprints is None:
                fps = self.signer.fingerprint_many([text for row in rows[start:stop] for text in row])
            else:
                fps = fingerprints.slice(lo, hi)
            verdicts += self._check_chunk((bounds[start : stop + 1] - lo).tolist(), fps)
        return verdicts

    def _check_chunk(self, bounds: list[int], fps: Fingerprints) -> list[str | None]:
        """Verdicts for the rows [bounds[r], bounds[r + 1]) of `fps`, as if checked one by one.

        A row can be a duplicate, or make a later row one, only if one of its texts shares an exact
        key or a band key with an earlier kept text or with another text of the chunk; those rows
        are resolved in order (`_resolve`), the others kept at once."""
        row_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))  # (T,)
        signed = np.flatnonzero(fps.signed)  # (S,) the text of each band row
        bands = band_keys(fps.signatures)  # (S, BANDS)
        if len(signed) < len(fps):
            bands = bands[signed]
        flat = bands.ravel()
        order = np.argsort(flat)  # one sort serves the lookup, the repeats and the new run
        ordered = flat[order]
        near_before = np.zeros(len(fps), dtype=bool)  # near a text kept by an earlier chunk
        at, ids = self._index.lookup(ordered)
        if len(ids):  # (text, id) pairs, once each however many bands they share
            texts, ids = np.divmod(
                np.unique(signed[order[at] // BANDS] * self._signatures.count + ids), self._signatures.count
            )
            near_before[texts[self._similar(fps.signatures[texts], self._signatures[ids])]] = True
        same = ordered[1:] == ordered[:-1]
        shared = np.zeros(len(flat), dtype=bool)
        shared[order[1:][same]] = shared[order[:-1][same]] = True
        banded = np.zeros(len(fps), dtype=bool)  # shares a band key with another text of the chunk
        banded[signed] = shared.reshape(-1, BANDS).any(axis=1)
        seen = _repeated(np.frombuffer(b"".join(fps.keys), dtype="<u8")[::2])  # by 64-bit key prefix
        seen |= np.fromiter((k in self.exact for k in fps.keys), dtype=bool, count=len(fps))
        suspects = np.unique(row_of[near_before | banded | seen]).tolist()
        band_row = np.full(len(fps), -1, dtype=np.int64)
        band_row[signed] = np.arange(len(signed))
        verdicts = self._resolve(suspects, bounds, fps, bands, band_row, near_before, banded)

        kept = np.array([v is None for v in verdicts], dtype=bool)[row_of]  # (T,)
        self.exact.update(compress(fps.keys, kept.tolist()))
        kept_band_rows = kept[signed]  # (S,)
        id_of = np.full(len(signed), -1, dtype=np.int64)
        id_of[kept_band_rows] = self._signatures.append(fps.signatures, signed[kept_band_rows])
        keep = order[np.repeat(kept_band_rows, BANDS)[order]]  # kept band keys, still in order
        self._index.add(flat[keep], id_of[keep // BANDS])
        return verdicts

    def _resolve(self, suspects, bounds, fps, bands, band_row, near_before, banded) -> list[str | None]:
        """Verdicts of the chunk's rows, deciding the `suspects` in order against the rows kept
        before them; every other row is kept."""
        verdicts: list[str | None] = [None] * (len(bounds) - 1)
        near_before, banded, keys = near_before.tolist(), banded.tolist(), fps.keys
        kept_keys: set[bytes] = set()  # of the suspects kept so far
        kept_bands: dict[int, list[int]] = {}  # band key -> texts of the suspects kept so far
        for r in suspects:
            texts = range(bounds[r], bounds[r + 1])
            if any(keys[t] in self.exact or keys[t] in kept_keys for t in texts):
                verdicts[r] = "exact"
                continue
            mine = {t: bands[band_row[t]].tolist() for t in texts if banded[t]}
            if any(near_before[t] for t in texts) or any(
                self._near_kept(fps.signatures, t, ks, kept_bands) for t, ks in mine.items()
            ):
                verdicts[r] = "near"
                continue
            kept_keys.update(keys[t] for t in texts)
            for t, ks in mine.items():
                for k in ks:
                    kept_bands.setdefault(k, []).append(t)
        return verdicts

    def _near_kept(self, signatures: np.ndarray, t: int, keys: list[int], kept_bands: dict) -> bool:
        candidates = sorted({u for k in keys for u in kept_bands.get(k, ())})
        return bool(candidates) and bool(self._similar(signatures[[t]], signatures[candidates]).any())

    def _similar(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Estimated Jaccard similarity >= threshold, row by row (or `a`'s one row against each of
        `b`'s): (N | 1, NUM_BINS), (N, NUM_BINS) -> (N,) bool."""
        return np.count_nonzero(a == b, axis=1) >= self._min_agree


def _repeated(values: np.ndarray) -> np.ndarray:
    """Mask of the values that occur more than once: [3, 1, 3, 2] -> [True, False, True, False]."""
    order = np.argsort(values)
    same = values[order][1:] == values[order][:-1]
    mask = np.zeros(len(values), dtype=bool)
    mask[order[1:][same]] = mask[order[:-1][same]] = True
    return mask
