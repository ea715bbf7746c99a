from __future__ import annotations

import json
import logging
from pathlib import Path

from train.engine import deepspeed_config

REPO = Path(__file__).resolve().parents[2]


def test_deepspeed_config_takes_batch_clipping_and_precision_from_the_flags(caplog):
    shipped = json.loads((REPO / "train" / "configs" / "zero3.json").read_text())
    assert shipped["zero_optimization"]["stage"] == 3
    base = {**shipped, "fp16": {"enabled": True}, "optimizer": {"type": "Adam"}, "train_batch_size": "auto"}
    with caplog.at_level(logging.WARNING):
        cfg = deepspeed_config(base, global_batch=2048, per_device=256, bf16=True, max_grad_norm=0.0)
    assert (
        cfg["train_batch_size"],
        cfg["train_micro_batch_size_per_gpu"],
        cfg["gradient_accumulation_steps"],
    ) == (2048, 256, 1)
    assert cfg["gradient_clipping"] == 0.0  # written even when 0: DeepSpeed's silent default is 1.0
    assert cfg["bf16"]["enabled"] is True and "fp16" not in cfg and "optimizer" not in cfg
    assert "'optimizer' section ignored" in caplog.text
    assert cfg["zero_optimization"] == shipped["zero_optimization"]  # the file keeps what it owns
