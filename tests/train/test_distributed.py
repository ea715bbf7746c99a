"""Several processes on the CPU (gloo): torchrun DDP and DeepSpeed ZeRO-3 against one process.

With LoRA dropout off, a 2-process run whose processes each hold half the global batch must give
the same loss at every step as one process holding the whole batch, because the embeddings are
gathered with gradients (same negatives, same gradients, hence the same updates).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.train.conftest import cli_args, free_port, like, losses

REPO = Path(__file__).resolve().parents[2]


def torchrun(
    args: list[str], cwd: Path, nproc: int = 2, timeout: int = 240, module: str = "train.lora"
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        f"--master_port={free_port()}",
        "-m",
        module,
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_process_ddp_equals_one_process_on_the_joined_batch(single, tmp_path):
    """Two torchrun processes call main() four times: plain DDP, DDP with GradCache (chunk backward
    passes under no_sync, the last one reduces), DDP with GradCache and 3 mined negatives per
    query (ranks gather different numbers of documents), and a BERT encoder with mean pooling (its
    own pooler is unused: LoRA there made DDP stop at step 2); then the teacher losses: kd with
    Matryoshka dims under GradCache and margin_mse (each query's own candidates index the gathered
    documents). All give the one-process losses."""
    from tests.tiny_models import build_bert, build_tokenizer
    from tests.train.conftest import make_rows, with_teacher, write_dataset_dir, write_mined_dir
    from train.lora import main

    cfg, _ = single
    plain, gc, k3, bert = tmp_path / "ddp", tmp_path / "ddp-gc", tmp_path / "ddp-k3", tmp_path / "ddp-bert"
    mined = write_mined_dir(tmp_path / "m", make_rows(64, seed=5))
    k3_cfg = dataclasses.replace(cfg, data=[str(mined)], output=tmp_path / "single-k3", negatives_per_query=3)
    main(k3_cfg)
    bert_dir = tmp_path / "bert"  # its hidden and attention dropout off too, as LoRA's: same masks nowhere
    build_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(bert_dir)
    build_tokenizer("bert").save_pretrained(bert_dir)
    bert_cfg = dataclasses.replace(
        cfg, model=str(bert_dir), pooling="mean", query_format="plain", output=tmp_path / "single-bert"
    )
    main(bert_cfg)
    taught = write_dataset_dir(tmp_path / "taught", with_teacher(make_rows(64, seed=7)))
    kd_cfg = dataclasses.replace(
        cfg,
        data=[str(taught)],
        output=tmp_path / "single-kd",
        loss="kd",
        matryoshka_dims="32,16,8",
        teacher_temperature=0.5,
    )
    mm_cfg = dataclasses.replace(cfg, data=[str(taught)], output=tmp_path / "single-mm", loss="margin_mse")
    main(kd_cfg)
    main(mm_cfg)
    kd, mm = tmp_path / "ddp-kd", tmp_path / "ddp-mm"
    spec = {
        "runs": [
            {
                "output": str(plain),
                "args": cli_args(like(cfg, plain)),
            },
            {
                "output": str(gc),
                "args": [
                    *cli_args(like(cfg, gc)),
                    "--grad-cache-chunk",
                    "3",
                ],
            },
            {"args": [*cli_args(like(k3_cfg, k3)), "--grad-cache-chunk", "5"]},
            {"args": cli_args(like(bert_cfg, bert))},
            {"args": [*cli_args(like(kd_cfg, kd)), "--grad-cache-chunk", "3"]},
            {"args": cli_args(like(mm_cfg, mm))},
        ]
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = torchrun(
        ["--worker-spec", str(tmp_path / "spec.json")], cwd=tmp_path, module="tests.train.dist_worker"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(plain) == pytest.approx(losses(cfg.output), abs=1e-5)
    assert losses(gc) == pytest.approx(losses(cfg.output), abs=1e-5)
    assert losses(k3) == pytest.approx(losses(k3_cfg.output), abs=1e-5)
    assert losses(bert) == pytest.approx(losses(bert_cfg.output), abs=1e-5)
    assert losses(kd) == pytest.approx(losses(kd_cfg.output), abs=1e-5)
    assert losses(mm) == pytest.approx(losses(mm_cfg.output), abs=1e-5)
    docs = [
        [json.loads(x)["documents"] for x in (o / "metrics.jsonl").read_text().splitlines()]
        for o in (k3, k3_cfg.output)
    ]
    assert docs[0] == docs[1] and min(docs[0]) > 16  # the same documents, well over one negative per query
    assert (plain / "modules.json").exists() and (plain / "adapter" / "adapter_model.safetensors").exists()
    assert proc.stderr.count("trained 3 steps") == 6  # the summary is printed by rank 0 only, once per run


def test_deepspeed_zero3_matches_and_resumes(single, tmp_path):
    """ZeRO-3 over 2 processes with gradient checkpointing on (the recompute trap) gives the
    one-process losses and a gathered, non-empty adapter. Then the last checkpoint is dropped and
    --resume redoes that step identically: the sharded optimizer and the LoRA weights (frozen base
    excluded from the checkpoint) came back. All runs share one torchrun to pay the imports once."""
    from safetensors.torch import load_file

    pytest.importorskip("deepspeed")
    cfg, _ = single
    out = tmp_path / "ds"
    zero3 = ["--deepspeed", str(REPO / "train" / "configs" / "zero3.json")]
    args = [
        *cli_args(like(cfg, out)),
        *zero3,
    ]
    first_out = tmp_path / "ds-first"
    runs = [
        {"args": args},
        {"copytree": [str(out), str(first_out)]},  # the finished run, to compare the resumed one with
        {"rmtree": str(out / "checkpoints" / "step-0000003")},
        {"args": [*args, "--resume"]},
    ]
    (tmp_path / "spec.json").write_text(json.dumps({"runs": runs}))
    proc = torchrun(
        ["--worker-spec", str(tmp_path / "spec.json")],
        cwd=tmp_path,
        timeout=400,
        module="tests.train.dist_worker",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = losses(first_out)
    assert first == pytest.approx(losses(cfg.output), abs=1e-4)  # ZeRO-3 sharding does not change the maths
    reference = load_file(cfg.output / "adapter" / "adapter_model.safetensors")
    final = load_file(first_out / "adapter" / "adapter_model.safetensors")
    assert final.keys() == reference.keys() and all(t.numel() > 0 for t in final.values())
    for k in final:
        assert (final[k] - reference[k]).abs().max() < 1e-3, (
            k
        )  # the exported adapter was gathered from the shards
    ckpt = load_file(first_out / "checkpoints" / "step-0000002" / "adapter.safetensors")
    assert ckpt and all(t.numel() > 0 for t in ckpt.values())  # gathered, not empty shards
    assert "resumed from" in proc.stderr and "step-0000002" in proc.stderr
    assert losses(out) == pytest.approx(first, abs=1e-6)
    again = load_file(out / "adapter" / "adapter_model.safetensors")
    for k in final:
        torch.testing.assert_close(again[k], final[k], atol=1e-6, rtol=1e-5)
