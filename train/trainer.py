"""The training loop: global batches -> local slice -> contrastive step -> metrics and checkpoints.

One step = one global contrastive batch = one optimizer update. Each process embeds its slice; the
loss scores local queries against the gathered global candidates (:mod:`train.distributed`), either
in one pass or chunk by chunk (:mod:`train.grad_cache`, same loss and gradients).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from train.checkpoint import load_checkpoint, save_checkpoint
from train.collator import Collator, ContrastiveBatch
from train.data import Example
from train.distributed import global_info_nce, mean_over_ranks, world
from train.errors import NonFiniteLoss
from train.grad_cache import grad_cache_backward
from train.metrics import MetricsLog, peak_memory_gb
from train.sampler import NoDuplicateBatchSampler

log = logging.getLogger(__name__)


def steps_for_epochs(sampler: NoDuplicateBatchSampler, epochs: float) -> int:
    """Optimizer steps in ``epochs`` passes (a fractional last pass counts its share of batches)."""
    whole, frac = int(epochs), epochs - int(epochs)
    steps = sum(len(sampler.batches(e)) for e in range(whole))
    if frac:
        steps += int(frac * len(sampler.batches(whole)))
    return steps


@dataclass
class Summary:
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    first_loss: float

    def line(self) -> str:
        rate = self.tokens / self.seconds if self.seconds else 0.0
        return (
            f"trained {self.steps} steps in {self.seconds:.1f}s, {self.tokens} tokens ({rate:.0f} tokens/s), "
            f"loss {self.first_loss:.4f} -> {self.final_loss:.4f}"
        )


class Trainer:
    def __init__(
        self,
        *,
        engine,
        collator: Collator,
        examples: list[Example],
        sampler: NoDuplicateBatchSampler,
        total_steps: int,
        output: Path,
        device: torch.device,
        temperature: float,
        grad_cache_chunk: int = 0,
        save_steps: int = 0,
        log_steps: int = 1,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.engine, self.collator, self.examples, self.sampler = engine, collator, examples, sampler
        self.total_steps, self.output, self.device = total_steps, output, device
        self.temperature, self.chunk = temperature, grad_cache_chunk
        self.save_steps, self.log_steps, self.config = save_steps, log_steps, config or {}
        self.rank, self.world_size = world()
        if sampler.batch_size % self.world_size:
            raise ValueError(
                f"--batch-size {sampler.batch_size} must be divisible by the {self.world_size} processes"
            )
        self.local = sampler.batch_size // self.world_size
        self.step, self.tokens, self.seconds = 0, 0, 0.0
        self.first_loss = self.last_loss = self.grad_norm = math.nan

    # -- state -----------------------------------------------------------------------------
    def client_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tokens": self.tokens,
            "seconds": self.seconds,
            "first_loss": self.first_loss,
            "last_loss": self.last_loss,
            "sampler": self.sampler.state_dict(),
        }

    def resume_from(self, path: Path) -> None:
        state = load_checkpoint(self.engine, path)
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.tokens, self.seconds = state["step"], state["tokens"], state["seconds"]
        self.first_loss, self.last_loss = state["first_loss"], state["last_loss"]
        log.info("resumed from %s at step %d", path, self.step)

    # -- one step --------------------------------------------------------------------------
    def _to_device(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in b.items()}

    def train_step(self, batch: ContrastiveBatch) -> float:
        """Forward, loss, backward, update. Returns the global mean loss of the step."""
        q, d = self._to_device(batch.queries), self._to_device(batch.docs)

        def loss_fn(qe: torch.Tensor, de: torch.Tensor) -> torch.Tensor:
            return global_info_nce(qe, de, batch.n_pos, self.temperature)

        if self.chunk:
            loss = grad_cache_backward(
                lambda b: self.engine.forward(b)[0], [q, d], loss_fn, self.chunk, self.engine.no_sync
            )
        else:
            qe, de = self.engine.forward(q, d)  # (B, H), (B + M, H)
            loss = loss_fn(qe, de)
            self.engine.backward(loss)
        # Collective: every rank sees the same value, so all of them stop together.
        value = mean_over_ranks(float(loss.detach()))
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"loss is {value} at step {self.step + 1}; stopping before the update (try a lower --lr or "
                f"check the data); the last good checkpoint is kept"
            )
        self.grad_norm = self.engine.step()
        return value

    # -- loop ------------------------------------------------------------------------------
    def train(self, metrics: MetricsLog) -> Summary:
        self.engine.train()
        batches = iter(self.sampler)
        bar = tqdm(
            total=self.total_steps, initial=self.step, disable=self.rank != 0, desc="train", unit="step"
        )
        try:
            while self.step < self.total_steps:
                idx = next(batches, None)
                if idx is None:
                    break
                loss = self._step_and_record(idx, metrics)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.engine.lr():.2e}")
        finally:
            bar.close()  # also on a crash, so the error message starts on its own line
        return Summary(self.step, self.seconds, self.tokens, self.last_loss, self.first_loss)

    def _step_and_record(self, idx: list[int], metrics: MetricsLog) -> float:
        local = idx[self.rank * self.local : (self.rank + 1) * self.local]  # this process's slice
        batch = self.collator([self.examples[i] for i in local])
        t0 = time.perf_counter()
        loss = self.train_step(batch)
        dt = time.perf_counter() - t0
        tokens = self._global_tokens(batch.tokens)
        self.step, self.tokens, self.seconds = self.step + 1, self.tokens + tokens, self.seconds + dt
        self.first_loss = loss if math.isnan(self.first_loss) else self.first_loss
        self.last_loss = loss
        if self.step % self.log_steps == 0 or self.step == self.total_steps:
            metrics.write(
                {
                    "step": self.step,
                    "loss": loss,
                    "lr": self.engine.lr(),
                    "grad_norm": self.grad_norm,
                    "tokens_per_s": tokens / dt if dt else 0.0,
                    "memory_gb": round(peak_memory_gb(), 3),
                    "epoch": self.sampler.epoch,
                    "elapsed_s": round(self.seconds, 3),
                }
            )
        if self.save_steps and self.step % self.save_steps == 0:
            save_checkpoint(self.engine, self.output, self.step, self.client_state(), self.config)
        return loss

    def _global_tokens(self, n: int) -> int:
        if self.world_size == 1:
            return n
        t = torch.tensor([n], device=self.device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(t)
        return int(t)
