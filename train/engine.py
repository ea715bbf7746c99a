"""How a step's backward and update run: one process, torchrun/DDP, or DeepSpeed.

The trainer talks to one small interface (``forward``, ``backward``, ``step``, ``no_sync``, ``lr``,
``save``/``load``) so the loop is the same in all three. Process-group set-up lives here too.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from train.distributed import world

log = logging.getLogger(__name__)


def setup_process_group(use_deepspeed: bool) -> torch.device:
    """Join the torchrun group when launched by torchrun (or always for DeepSpeed); return our device.

    NCCL on GPUs, gloo on CPU. DeepSpeed wants a group even for one process, so a lone process gets
    a one-member group on localhost.
    """
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", 1)) == 1 and not use_deepspeed:
        return device
    if use_deepspeed:
        for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
            os.environ.setdefault(k, v)
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        import deepspeed

        if not dist.is_initialized():
            deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")
    elif not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return device


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PlainEngine:
    """AdamW + scheduler around the encoder, DDP-wrapped when there are several processes."""

    def __init__(
        self, encoder: nn.Module, optimizer, scheduler, device: torch.device, max_grad_norm: float = 0.0
    ) -> None:
        self.encoder, self.optimizer, self.scheduler = encoder, optimizer, scheduler
        self.max_grad_norm = max_grad_norm
        _, size = world()
        self.module: nn.Module = encoder
        if size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.module = DDP(encoder, device_ids=ids)

    def forward(self, *batches):
        return self.module(*batches)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def no_sync(self) -> contextlib.AbstractContextManager:
        return self.module.no_sync() if hasattr(self.module, "no_sync") else contextlib.nullcontext()

    def step(self) -> float:
        """Clip (when asked), update, advance the schedule; returns the pre-clip global gradient norm."""
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        limit = self.max_grad_norm if self.max_grad_norm > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, limit)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def train(self) -> None:
        self.module.train()

    def save(self, path: Path, client_state: dict[str, Any]) -> None:
        """Optimizer, scheduler and the trainable (LoRA) parameters; written by rank 0 only (replicas agree)."""
        rank, _ = world()
        if rank == 0:
            torch.save(
                {
                    "trainable": {
                        n: p.detach().cpu() for n, p in self.encoder.named_parameters() if p.requires_grad
                    },
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "client": client_state,
                },
                path / "engine.pt",
            )

    def load(self, path: Path) -> dict[str, Any]:
        state = torch.load(path / "engine.pt", map_location="cpu", weights_only=False)
        params = dict(self.encoder.named_parameters())
        missing = [n for n, p in params.items() if p.requires_grad and n not in state["trainable"]]
        if missing:
            raise ValueError(
                f"{path}: checkpoint lacks {len(missing)} trainable tensors, e.g. {missing[0]} (other --lora-* flags?)"
            )
        with torch.no_grad():
            for n, t in state["trainable"].items():
                params[n].copy_(t)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return state["client"]


class DeepSpeedEngine:
    """DeepSpeed (e.g. ZeRO-3) around the encoder; our AdamW and scheduler are handed to it."""

    def __init__(self, encoder: nn.Module, optimizer, scheduler, ds_config: dict[str, Any]) -> None:
        import deepspeed

        self.encoder = encoder
        self.module, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=encoder, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
        )

    def forward(self, *batches):
        return self.module(*batches)

    def backward(self, loss: torch.Tensor) -> None:
        self.module.backward(loss)

    def no_sync(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # never used: GradCache + DeepSpeed is refused in the config

    def step(self) -> float:
        self.module.step()  # clip (config's gradient_clipping) + optimizer + scheduler + zero_grad
        norm = self.module.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def lr(self) -> float:
        return self.module.get_lr()[0]

    def train(self) -> None:
        self.module.train()

    def save(self, path: Path, client_state: dict[str, Any]) -> None:
        # Collective: every rank writes its own ZeRO partition. Frozen base weights are left out: the
        # base model on disk already holds them, and a 7B base would make every checkpoint 14 GB.
        self.module.save_checkpoint(
            str(path.parent),
            tag=path.name,
            client_state={"client": client_state},
            exclude_frozen_parameters=True,
        )

    def load(self, path: Path) -> dict[str, Any]:
        loaded, client = self.module.load_checkpoint(
            str(path.parent), tag=path.name, load_module_strict=False
        )
        if loaded is None:
            raise ValueError(f"{path}: DeepSpeed found no checkpoint to load")
        return client["client"]


def deepspeed_config(
    base: dict[str, Any], *, global_batch: int, per_device: int, bf16: bool, max_grad_norm: float
) -> dict[str, Any]:
    """Fill in what our flags own: batch sizes (no accumulation), bf16 and clipping; the file keeps the rest.

    Clipping is always written: DeepSpeed silently clips at 1.0 when the key is absent, which made
    ZeRO-3 runs drift from DDP runs with --max-grad-norm 0.
    """
    cfg = dict(base)
    cfg["gradient_clipping"] = max_grad_norm
    cfg["train_batch_size"] = global_batch
    cfg["train_micro_batch_size_per_gpu"] = per_device
    cfg["gradient_accumulation_steps"] = 1  # accumulation would not add in-batch negatives
    cfg["bf16"] = {**cfg.get("bf16", {}), "enabled": bf16}
    cfg.pop("fp16", None)  # fp16 is never used (NaN with left padding); bf16 or fp32 only
    cfg.setdefault("zero_allow_untested_optimizer", True)  # our torch AdamW, not DeepSpeed's fused one
    for key in ("optimizer", "scheduler"):
        if key in cfg:
            log.warning(
                "DeepSpeed config %r section ignored: --lr/--warmup-steps drive AdamW and the schedule", key
            )
            cfg.pop(key)
    return cfg


def make_engine(
    encoder: nn.Module,
    *,
    device: torch.device,
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    total_steps: int,
    max_grad_norm: float,
    global_batch: int,
    deepspeed: dict[str, Any] | None = None,
    bf16: bool = False,
):
    """AdamW over the trainable (LoRA) parameters with linear warm-up/decay, in the right engine."""
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(
        [p for p in encoder.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    if deepspeed is None:
        return PlainEngine(encoder, optimizer, scheduler, device, max_grad_norm)
    _, size = world()
    cfg = deepspeed_config(
        deepspeed,
        global_batch=global_batch,
        per_device=global_batch // size,
        bf16=bf16,
        max_grad_norm=max_grad_norm,
    )
    return DeepSpeedEngine(encoder, optimizer, scheduler, cfg)
