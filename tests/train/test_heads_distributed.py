"""--heads over two CPU processes (gloo): DDP, DDP with GradCache and DeepSpeed ZeRO-3 give the
one-process losses, since every head's candidates (multi-vectors padded to the widest rank's) are
gathered with gradients, and export the same heads."""

from __future__ import annotations

import json

import pytest
import torch

from tests.tiny_models import build_bert, build_tokenizer
from tests.train.conftest import cli_args, like, losses, make_rows, small_config, write_dataset_dir
from tests.train.test_distributed import REPO, torchrun


def heads_reference(tmp_path):
    from train.lora import main

    bert = tmp_path / "bert"
    build_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(bert)
    build_tokenizer("bert").save_pretrained(bert)
    data = write_dataset_dir(tmp_path / "ds", make_rows(64, seed=7))  # half the rows bring a hard negative
    cfg = small_config(
        bert,
        data,
        tmp_path / "single",
        pooling="mean",
        query_format="plain",
        heads="dense,sparse,colbert",
        group_by_length=True,
        lora_dropout=0.0,
        max_grad_norm=0.0,
        max_steps=3,
    )
    main(cfg)
    return cfg


def run_spec(runs: list[dict], tmp_path, timeout: int) -> str:
    """One torchrun of tests.train.dist_worker over ``runs``; returns its stderr."""
    (tmp_path / "spec.json").write_text(json.dumps({"runs": runs}))
    proc = torchrun(
        ["--worker-spec", str(tmp_path / "spec.json")],
        cwd=tmp_path,
        timeout=timeout,
        module="tests.train.dist_worker",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def assert_like_reference(cfg, out) -> None:
    """``out`` has the one-process run's losses, loss terms and heads."""
    assert losses(out) == pytest.approx(losses(cfg.output), abs=1e-4), out.name
    parts = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert "loss_colbert" in parts and "distill_sparse" in parts
    for f in ("sparse_linear.pt", "colbert_linear.pt"):
        a = torch.load(cfg.output / f, weights_only=True)
        b = torch.load(out / f, weights_only=True)
        for k in a:
            torch.testing.assert_close(b[k], a[k], atol=1e-3, rtol=1e-3, msg=f"{out.name} {f} {k}")


def run_and_compare(cfg, runs: list[tuple], tmp_path, timeout: int) -> None:
    run_spec([{"args": [*cli_args(like(cfg, out)), *extra]} for out, extra in runs], tmp_path, timeout)
    for out, _ in runs:
        assert_like_reference(cfg, out)


def test_two_processes_equal_one_with_heads(tmp_path):
    """DDP and DDP + GradCache (chunks of 3) over 2 processes: the one-process losses and heads."""
    cfg = heads_reference(tmp_path)
    runs = [(tmp_path / "ddp", []), (tmp_path / "ddp-gc", ["--grad-cache-chunk", "3"])]
    run_and_compare(cfg, runs, tmp_path, timeout=280)


def sharding_zero3(path) -> str:
    """train/configs/zero3.json with no persistent parameters. With its threshold (100k values) every
    tensor of the tiny model, LoRA and heads too, is gathered once and then kept whole on every rank;
    with 0, each forward gathers and releases them, as it does a real model's large tensors."""
    ds = json.loads((REPO / "train" / "configs" / "zero3.json").read_text())
    no_persistence = {"stage3_param_persistence_threshold": 0, "stage3_model_persistence_threshold": 0}
    ds["zero_optimization"] |= no_persistence
    path.write_text(json.dumps(ds))
    return str(path)


@pytest.mark.slow  # DeepSpeed's import and start-up: 80 s on a quiet 2-core box, 270 s on a busy one
@pytest.mark.timeout(900)  # the project's 300 s default is below the torchrun's own limit
def test_zero3_equals_one_process_with_heads(tmp_path):
    """ZeRO-3, no parameter kept whole between forwards: the one-process losses and the gathered
    heads; then the last checkpoint is dropped and --resume redoes that step identically."""
    pytest.importorskip("deepspeed")
    cfg = heads_reference(tmp_path)
    out, first = tmp_path / "zero3", tmp_path / "zero3-first"
    ds = sharding_zero3(tmp_path / "zero3.json")
    args = [*cli_args(like(cfg, out)), "--deepspeed", ds, "--save-steps", "2"]
    stderr = run_spec(
        [
            {"args": args},
            {"copytree": [str(out), str(first)]},  # the finished run, to compare the resumed one with
            {"rmtree": str(out / "checkpoints" / "step-0000003")},
            {"args": [*args, "--resume"]},
        ],
        tmp_path,
        timeout=800,
    )
    assert_like_reference(cfg, first)
    assert "resumed from" in stderr and "step-0000002" in stderr
    assert losses(out) == pytest.approx(losses(first), abs=1e-6)  # heads and their AdamW state came back
    for f in ("sparse_linear.pt", "colbert_linear.pt"):
        a, b = (torch.load(o / f, weights_only=True) for o in (first, out))
        for k in a:
            torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=1e-5, msg=f"resumed {f} {k}")
