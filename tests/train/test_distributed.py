"""Several processes on the CPU (gloo): torchrun DDP and DeepSpeed ZeRO-3 against one process.

With LoRA dropout off, a 2-process run whose processes each hold half the global batch must give
the same loss at every step as one process holding the whole batch, because the embeddings are
gathered with gradients (same negatives, same gradients, hence the same updates).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.train.conftest import cli_args, small_config

REPO = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], cwd: Path, nproc: int = 2, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        f"--master_port={_port()}",
        "-m",
        "train.lora",
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def losses(out: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single(tmp_path_factory, model_dir):
    """The one-process reference run: global batch 8, 3 steps, dropout off."""
    from tests.train.conftest import make_rows, write_dataset_dir
    from train.lora import main

    root = tmp_path_factory.mktemp("dist")
    data = write_dataset_dir(root / "ds", make_rows(64))
    cfg = small_config(model_dir, data, root / "single", lora_dropout=0.0, max_steps=3, save_steps=2)
    main(cfg)
    return cfg, root


def test_two_process_ddp_equals_one_process_on_the_joined_batch(single, tmp_path):
    cfg, _ = single
    out = tmp_path / "ddp"
    cfg2 = small_config(
        Path(cfg.model), [Path(d) for d in cfg.data], out, lora_dropout=0.0, max_steps=3, save_steps=2
    )
    proc = torchrun(cli_args(cfg2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(out) == pytest.approx(losses(cfg.output), abs=1e-5)
    assert (out / "modules.json").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    assert "trained 3 steps" in proc.stderr  # the summary is printed once, by rank 0
    assert proc.stderr.count("trained 3 steps") == 1


def test_deepspeed_zero3_two_processes_runs_and_matches(single, tmp_path):
    """ZeRO-3 shards every parameter over 2 processes; gradient checkpointing stays on (the
    recompute trap), and the exported adapter must be gathered, non-empty and equal to DDP's."""
    pytest.importorskip("deepspeed")
    from safetensors.torch import load_file

    cfg, _ = single
    out = tmp_path / "ds"
    args = cli_args(
        small_config(
            Path(cfg.model), [Path(d) for d in cfg.data], out, lora_dropout=0.0, max_steps=3, save_steps=2
        )
    )
    proc = torchrun(
        [*args, "--deepspeed", str(REPO / "train" / "configs" / "zero3.json")], cwd=tmp_path, timeout=400
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(out) == pytest.approx(losses(cfg.output), abs=1e-4)
    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(cfg.output / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(t.numel() > 0 for t in a.values())
    for k in a:
        assert a[k].shape == b[k].shape
        assert (a[k] - b[k]).abs().max() < 1e-3, k
    assert (out / "checkpoints" / "step-0000002" / "DONE").exists()


def test_two_process_ddp_with_grad_cache_equals_one_process(single, tmp_path):
    """GradCache under DDP: chunk backward passes run under no_sync, the last one reduces; same losses."""
    cfg, _ = single
    out = tmp_path / "ddp-gc"
    args = cli_args(
        small_config(
            Path(cfg.model), [Path(d) for d in cfg.data], out, lora_dropout=0.0, max_steps=3, save_steps=2
        )
    )
    proc = torchrun([*args, "--grad-cache-chunk", "3"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(out) == pytest.approx(losses(cfg.output), abs=1e-5)


def test_deepspeed_zero3_resume_from_checkpoint(single, tmp_path):
    """Drop the last checkpoint of a finished ZeRO-3 run and --resume: the step is redone identically,
    so the sharded optimizer and the (frozen-excluded) LoRA weights came back from the checkpoint."""
    import shutil

    from safetensors.torch import load_file

    pytest.importorskip("deepspeed")
    cfg, _ = single
    out = tmp_path / "ds"
    zero3 = ["--deepspeed", str(REPO / "train" / "configs" / "zero3.json")]
    args = [
        *cli_args(
            small_config(
                Path(cfg.model), [Path(d) for d in cfg.data], out, lora_dropout=0.0, max_steps=3, save_steps=2
            )
        ),
        *zero3,
    ]
    assert torchrun(args, cwd=tmp_path, timeout=400).returncode == 0
    first = losses(out)
    final = load_file(out / "adapter" / "adapter_model.safetensors")
    ckpt = load_file(out / "checkpoints" / "step-0000002" / "adapter.safetensors")
    assert ckpt and all(t.numel() > 0 for t in ckpt.values())  # gathered, not empty shards
    shutil.rmtree(out / "checkpoints" / "step-0000003")
    proc = torchrun([*args, "--resume"], cwd=tmp_path, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stderr and "step-0000002" in proc.stderr
    assert losses(out) == pytest.approx(first, abs=1e-6)
    again = load_file(out / "adapter" / "adapter_model.safetensors")
    for k in final:
        torch.testing.assert_close(again[k], final[k], atol=1e-6, rtol=1e-5)
