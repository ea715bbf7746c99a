"""Speed and recall of synth's dedup against a plain datasketch MinHashLSH pass, same rows, same run.

Rows are generated (a query of ~6 words and a positive of ~80 pseudo-words) with planted duplicates:
5% exact copies of an earlier row (case and punctuation changed) and 5% near copies (one or two
words of the positive and one of the query replaced, Jaccard of 5-gram shingles about 0.9). Both
passes see each row's query and positive, in order, and flag a row that duplicates an earlier one.
The baseline is datasketch used the usual way: char 5-gram shingles, `MinHash.update_batch` with its
default SHA-1 hashing, `MinHashLSH(threshold=0.8, num_perm=128)` query then insert, and a set of
normalised texts for exact copies.

    python bench/dedup.py              # 200k rows
    python bench/dedup.py --rows 20000

Targets (issue 5): recall of planted near duplicates >= 0.95, speed >= the baseline's.
"""

from __future__ import annotations

import argparse
import random
import time

from datasketch import MinHash, MinHashLSH
from tqdm import tqdm

from synth.dedup import NUM_PERM, THRESHOLD, Deduper
from synth.testing.fake_openai import VOCAB
from synth.text import normalize


def make_rows(n: int, seed: int = 0) -> tuple[list[tuple[str, str]], set[int], set[int]]:
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
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


def ours(rows: list[tuple[str, str]]) -> set[int]:
    d = Deduper()
    return {i for i, (q, p) in enumerate(tqdm(rows, desc="synth.dedup", mininterval=1)) if d.check([q, p])}


def baseline(rows: list[tuple[str, str]]) -> set[int]:
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    seen: set[str] = set()
    flagged = set()
    for i, (q, p) in enumerate(tqdm(rows, desc="datasketch", mininterval=1)):
        norms = [normalize(q), normalize(p)]
        if any(n in seen for n in norms):
            flagged.add(i)
            continue
        sketches = []
        for n in norms:
            compact = n.replace(" ", "")
            m = MinHash(num_perm=NUM_PERM)
            m.update_batch([compact[j : j + 5].encode() for j in range(max(1, len(compact) - 4))])
            sketches.append(m)
        if any(lsh.query(m) for m in sketches):
            flagged.add(i)
            continue
        seen.update(norms)
        for k, m in enumerate(sketches):
            lsh.insert(f"{i}:{k}", m, check_duplication=False)
    return flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    rows, exact, near = make_rows(args.rows)
    print(f"{len(rows):,} rows: {len(exact):,} planted exact, {len(near):,} planted near duplicates")
    results = {}
    for name, fn in (("synth.dedup", ours), ("datasketch", baseline)):
        start = time.perf_counter()
        flagged = fn(rows)
        elapsed = time.perf_counter() - start
        planted = exact | near
        results[name] = len(rows) / elapsed
        print(f"{name:<12} {len(rows) / elapsed:>9,.0f} rows/s  ({elapsed:6.1f} s)  "
              f"recall exact {len(flagged & exact) / len(exact):.3f}  near {len(flagged & near) / len(near):.3f}  "
              f"false positives {len(flagged - planted)}")  # fmt: skip
    print(f"speed ratio synth.dedup / datasketch: {results['synth.dedup'] / results['datasketch']:.2f}")


if __name__ == "__main__":
    main()
