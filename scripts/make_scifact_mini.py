"""Builds synth/corpus/examples/scifact-mini from ../shared/data/scifact-dev (run once; the output is
committed): all 807 dev claims, the 565 abstracts they cite, and 435 other abstracts drawn with a fixed
seed, 1,000 in all, gzipped in the BEIR layout. Small enough for the quick start to score a model in
well under a minute on 2 cores; the full set (5,183 abstracts) is bench/adapt_lift.py's."""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

SRC = Path(
    sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/scifact-dev"
)
OUT = Path(__file__).resolve().parents[1] / "synth" / "corpus" / "examples" / "scifact-mini"
SIZE = 1000

qrels = (SRC / "qrels" / "dev.tsv").read_text()
cited = {line.split("\t")[1] for line in qrels.splitlines()[1:] if line}
corpus = [json.loads(line) for line in (SRC / "corpus.jsonl").read_text().splitlines()]
others = sorted(d["_id"] for d in corpus if d["_id"] not in cited)
keep = cited | set(random.Random(0).sample(others, SIZE - len(cited)))
OUT.mkdir(parents=True, exist_ok=True)
(OUT / "qrels").mkdir(exist_ok=True)
with gzip.GzipFile(OUT / "corpus.jsonl.gz", "wb", mtime=0) as f:
    f.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus if d["_id"] in keep).encode())
with gzip.GzipFile(OUT / "queries.jsonl.gz", "wb", mtime=0) as f:
    f.write((SRC / "queries.jsonl").read_bytes())
(OUT / "qrels" / "dev.tsv").write_text(qrels)
print(f"{OUT}: {len(keep)} abstracts ({len(cited)} cited), {len(qrels.splitlines()) - 1} qrels")
