"""Speed and recall of synth.checks.dedup against rensa and datasketch: same rows, same run, same machine.

Rows are generated (a query of ~6 words and a positive of ~80 pseudo-words) with planted duplicates:
5% exact copies of an earlier row (case and punctuation changed) and 5% near copies (one or two
words of the positive and one of the query replaced: Jaccard of 5-gram shingles about 0.9). Each
pass does the generator's job: rows in order, a row flagged when a text of it duplicates a text of
an earlier kept row (exact after `normalize`, or estimated Jaccard >= 0.8), the first kept. Every
pass normalises, shingles (5-grams of the normalised text without spaces) and signs every text
itself, inside its timing; all use 128 permutations and threshold 0.8.

- synth.checks.dedup: `Deduper().check_many(rows)`.
- rensa: the same job with rensa's streaming API, as its README shows it: 5-gram tokens as str
  (rensa takes token lists), signed in one `RMinHash.from_token_sets` call, then per row
  `RMinHashDeduplicator.is_duplicate` (LSH, 16 bands, then its own similarity check) for both
  texts and `add` if kept. Texts normalised with our `normalize_many`. The time spent building
  token lists in Python is shown apart: rensa's own work is the rest.
- rensa batch: rensa's fastest pipeline, which does a different job: our numpy 5-gram hashes (no
  Python tokens) signed with `digest_matrix_from_flat_token_hashes`, then
  `RMinHashLSH.insert_matrix_and_query_duplicate_flags`, which flags every text sharing a band with
  any other (the first of a pair too, so originals count as false positives) with no similarity
  check, and has no way to give the signatures back for one (`to_rows` costs ~11 us a text).
- datasketch: the usual way: `MinHash.update_batch` with its default SHA-1 hashing of byte
  tokens, `MinHashLSH(threshold=0.8)` query then insert, `normalize` per text, a set for exact copies.

    python bench/dedup.py                       # 200k rows, all passes
    python bench/dedup.py --rows 20000 --passes synth.checks.dedup rensa

Targets (scale issue, speed item 6): synth.checks.dedup >= 30,000 rows/s, near recall >= 0.95, no false
positives, with its speed ratio to rensa and to datasketch measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

import numpy as np
import rensa
from datasketch import MinHash, MinHashLSH

from synth.checks.dedup import THRESHOLD, Deduper
from synth.checks.minhash import NUM_BINS, normalize_many
from synth.checks.text import normalize
from synth.testing.fake_openai import VOCAB

Rows = list[tuple[str, str]]
SEED = 42
RENSA_BANDS = 16


def make_rows(n: int, seed: int = 0) -> tuple[Rows, set[int], set[int]]:
    rng = random.Random(seed)
    rows: Rows = []
    exact, near = set(), set()
    for i in range(n):
        roll = rng.random()
        if i > 100 and roll < 0.05:
            q, p = rows[rng.randrange(i)]
            rows.append((q.upper() + "?", p.replace(" ", "  ", 3) + "."))
            exact.add(i)
        elif i > 100 and roll < 0.10:
            q, p = rows[rng.randrange(i)]
            words = p.split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(VOCAB)
            qw = q.split()
            qw[rng.randrange(len(qw))] = rng.choice(VOCAB)
            rows.append((" ".join(qw), " ".join(words)))
            near.add(i)
        else:
            q = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(4, 8)))
            p = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(60, 100)))
            rows.append((q, p))
    return rows, exact, near


def ours(rows: Rows, notes: list[str]) -> set[int]:
    return {i for i, verdict in enumerate(Deduper().check_many(rows)) if verdict}


def _flatten(rows: Rows) -> tuple[list[str], list[str]]:
    """Normalised texts of the rows (query, positive, query, ...) and the same without spaces."""
    norms = normalize_many([text for row in rows for text in row])
    return norms, [t.replace(" ", "") for t in norms]


def rensa_streaming(rows: Rows, notes: list[str]) -> set[int]:
    norms, compacts = _flatten(rows)
    start = time.perf_counter()
    tokens = [[c[j : j + 5] for j in range(max(1, len(c) - 4))] for c in compacts]
    notes.append(f"building its token lists took {time.perf_counter() - start:.1f} s")
    sketches = rensa.RMinHash.from_token_sets(tokens, NUM_BINS, SEED)
    dedup = rensa.RMinHashDeduplicator(
        threshold=THRESHOLD, num_perm=NUM_BINS, use_lsh=True, num_bands=RENSA_BANDS, seed=SEED
    )
    seen: set[str] = set()
    flagged = set()
    for i in range(len(rows)):
        texts = (2 * i, 2 * i + 1)
        if any(norms[t] in seen for t in texts) or any(
            dedup.is_duplicate(str(t), sketches[t]) for t in texts
        ):
            flagged.add(i)
            continue
        seen.update(norms[t] for t in texts)
        for t in texts:
            dedup.add(str(t), sketches[t])
    return flagged


def _shingle_hashes(compacts: list[str], n: int = 5, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 hashes of every text's n-grams, row offsets), vectorised over `chunk` texts at
    a time: a polynomial over code points mixed by MurmurHash3's 64-bit finaliser."""
    parts = []
    for at in range(0, len(compacts), chunk):
        texts = compacts[at : at + chunk]
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        h = codes[: max(len(codes) - n + 1, 0)] * np.uint64(0x9E3779B97F4A7C15)
        for j in range(1, n):
            h += codes[j : j + len(h)] * np.uint64(0xC2B2AE3D27D4EB4F + 2 * j)
        for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
            h ^= h >> np.uint64(33)
            h *= np.uint64(mult)
        counts = np.maximum(lens - n + 1, 0)
        inside = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        parts.append(h[np.repeat(np.cumsum(lens) - lens, counts) + inside])
    offsets = np.zeros(len(compacts) + 1, dtype=np.uint64)
    np.cumsum([len(c) - n + 1 if len(c) >= n else 0 for c in compacts], out=offsets[1:])
    return np.concatenate(parts), offsets


def rensa_batch(rows: Rows, notes: list[str]) -> set[int]:
    norms, compacts = _flatten(rows)
    flat, offsets = _shingle_hashes(compacts)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_BINS, SEED)
    lsh = rensa.RMinHashLSH(THRESHOLD, NUM_BINS, RENSA_BANDS)
    near = lsh.insert_matrix_and_query_duplicate_flags(matrix)
    seen: set[str] = set()
    flagged = set()
    for i in range(len(rows)):
        texts = (2 * i, 2 * i + 1)
        if any(norms[t] in seen for t in texts) or near[texts[0]] or near[texts[1]]:
            flagged.add(i)
            continue
        seen.update(norms[t] for t in texts)
    return flagged


def datasketch(rows: Rows, notes: list[str]) -> set[int]:
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_BINS)
    seen: set[str] = set()
    flagged = set()
    for i, (q, p) in enumerate(rows):
        norms = [normalize(q), normalize(p)]
        if any(n in seen for n in norms):
            flagged.add(i)
            continue
        sketches = []
        for n in norms:
            compact = n.replace(" ", "")
            m = MinHash(num_perm=NUM_BINS)
            m.update_batch([compact[j : j + 5].encode() for j in range(max(1, len(compact) - 4))])
            sketches.append(m)
        if any(lsh.query(m) for m in sketches):
            flagged.add(i)
            continue
        seen.update(norms)
        for k, m in enumerate(sketches):
            lsh.insert(f"{i}:{k}", m, check_duplication=False)
    return flagged


PASSES: dict[str, Callable[[Rows, list[str]], set[int]]] = {
    "synth.checks.dedup": ours,
    "rensa": rensa_streaming,
    "rensa batch": rensa_batch,
    "datasketch": datasketch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate")
    parser.add_argument(
        "--passes", nargs="+", choices=list(PASSES), default=list(PASSES), help="which to run"
    )
    args = parser.parse_args()
    rows, exact, near = make_rows(args.rows)
    gc.freeze()  # the rows are not rescanned by every collection a pass's own objects trigger
    print(f"{len(rows):,} rows: {len(exact):,} planted exact, {len(near):,} planted near duplicates")
    speed = {}
    for name in args.passes:
        notes: list[str] = []
        start = time.perf_counter()
        flagged = PASSES[name](rows, notes)
        elapsed = time.perf_counter() - start
        speed[name] = len(rows) / elapsed
        print(
            f"{name:<12} {speed[name]:>9,.0f} rows/s  ({elapsed:6.1f} s)  "
            f"recall exact {len(flagged & exact) / len(exact):.3f}  near {len(flagged & near) / len(near):.3f}  "
            f"false positives {len(flagged - exact - near)}" + "".join(f"; {n}" for n in notes)
        )
    if "synth.checks.dedup" in speed:
        for name in [name for name in speed if name != "synth.checks.dedup"]:
            print(f"speed ratio synth.checks.dedup / {name}: {speed['synth.checks.dedup'] / speed[name]:.2f}")


if __name__ == "__main__":
    main()
