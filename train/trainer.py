"""The training loop: global batches -> local slice -> contrastive step -> metrics and checkpoints.

One step = one global contrastive batch = one optimizer update. Each process embeds its slice; the
loss (:mod:`train.losses`) scores local queries against the global candidates gathered by
:mod:`train.distributed`, either in one pass or chunk by chunk (:mod:`train.grad_cache`, same loss
and gradients).
"""

from __future__ import annotations

import dataclasses
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
from train.distributed import gather_candidates, mean_over_ranks, world
from train.errors import ConfigError, NonFiniteLoss
from train.grad_cache import grad_cache_backward
from train.losses import TEACHER_LOSSES, build_loss
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


def plan_steps(sampler: NoDuplicateBatchSampler, epochs: float, max_steps: int, world_size: int = 1) -> int:
    """The run's optimizer steps (``max_steps`` when > 0, else ``epochs`` passes).

    Raises ConfigError when the data cannot fill one global batch: the last incomplete batch is
    dropped, so such a run would take 0 steps and export the untouched base model.
    """
    n = len(sampler.examples)
    if not sampler.batches(0):
        fit = sampler.largest_batch()
        suggest = fit // world_size * world_size
        distinct = f" (only {fit} of them fit one batch without repeated texts)" if fit < n else ""
        multiple = f", a multiple of the {world_size} processes" if world_size > 1 else ""
        fix = (
            f"use --batch-size {suggest} or less{multiple}"
            if suggest
            else f"add rows or use fewer than {world_size} processes"
        )
        raise ConfigError(
            f"--batch-size {sampler.batch_size} needs {sampler.batch_size} rows per batch, but --data has {n}{distinct}: "
            f"an incomplete batch is dropped, so no step would run; {fix}"
        )
    steps = max_steps if max_steps > 0 else steps_for_epochs(sampler, epochs)
    if steps == 0:  # e.g. --epochs 0.1 of a 3-batch epoch
        raise ConfigError(
            f"--epochs {epochs} of {len(sampler.batches(0))} batches per epoch is 0 steps; raise --epochs"
        )
    return steps


def warmup_warning(warmup_steps: int, total_steps: int, lr: float) -> str | None:
    """The warning for a warm-up that never ends: the linear schedule's lr at update n is lr * (n - 1) / warmup."""
    if warmup_steps < total_steps:
        return None
    peak = lr * (total_steps - 1) / warmup_steps
    return (
        f"--warmup-steps {warmup_steps} is not below the run's {total_steps} steps: the learning rate never "
        f"reaches --lr {lr:g} (it peaks at {peak:.3g}) and never decays"
    )


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
        loss: str = "info_nce",  # a key of train.losses.LOSSES
        teacher_temperature: float = 1.0,
        kd_alpha: float = 0.2,
        matryoshka_dims: list[int] | None = None,
        matryoshka_weights: list[float] | None = None,
        step_loss=None,  # (q outputs, doc outputs, n_pos, step) -> loss, e.g. train.m3_step.M3StepLoss; replaces `loss`
        grad_cache_chunk: int = 0,
        save_steps: int = 0,
        log_steps: int = 1,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.engine, self.collator, self.examples, self.sampler = engine, collator, examples, sampler
        self.total_steps, self.output, self.device = total_steps, output, device
        self.temperature, self.chunk = temperature, grad_cache_chunk
        self.contrastive_loss = build_loss(
            loss,
            temperature,
            teacher_temperature=teacher_temperature,
            kd_alpha=kd_alpha,
            matryoshka_dims=matryoshka_dims or (),
            matryoshka_weights=matryoshka_weights,
        )
        self.needs_teacher = loss in TEACHER_LOSSES
        self.step_loss = step_loss
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

        own = None if batch.own is None else batch.own.to(self.device)
        teacher = None if batch.teacher is None else batch.teacher.to(self.device)

        def loss_fn(qe: torch.Tensor, de: torch.Tensor) -> torch.Tensor:
            if self.step_loss is not None:  # --heads: the encoder gives several outputs per text
                return self.step_loss(qe, de, batch.n_pos, self.step)
            return self.contrastive_loss(gather_candidates(qe, de, batch.n_pos, own, teacher))

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
                if idx is None:  # a later epoch packed no full batch (only rows with clashing texts left)
                    log.warning("the data ran out after %d of %d steps", self.step, self.total_steps)
                    break
                loss = self._step_and_record(idx, metrics)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.engine.lr():.2e}")
        finally:
            bar.close()  # also on a crash, so the error message starts on its own line
        return Summary(self.step, self.seconds, self.tokens, self.last_loss, self.first_loss)

    def _step_and_record(self, idx: list[int], metrics: MetricsLog) -> float:
        part = slice(self.rank * self.local, (self.rank + 1) * self.local)  # this process's slice
        everyone = self.sampler.negatives(idx)  # decided on the global batch: no text twice anywhere
        batch = self.collator([self.examples[i] for i in idx[part]], everyone[part])
        if self.needs_teacher:
            batch = self._with_teacher(batch, idx, part, everyone)
        t0 = time.perf_counter()
        loss = self.train_step(batch)
        dt = time.perf_counter() - t0
        tokens, documents = self._global_sum(batch.tokens, batch.n_docs)
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
                    "documents": documents,  # positives + hard negatives of the global batch
                    "memory_gb": round(peak_memory_gb(), 3),
                    "epoch": self.sampler.epoch,
                    "elapsed_s": round(self.seconds, 3),
                    **getattr(self.step_loss, "last_parts", {}),  # --heads: rank 0's loss terms
                }
            )
        if self.save_steps and self.step % self.save_steps == 0:
            save_checkpoint(self.engine, self.output, self.step, self.client_state(), self.config)
        return loss

    def _with_teacher(
        self, batch: ContrastiveBatch, idx: list[int], part: slice, negatives: list[tuple[str, ...]]
    ) -> ContrastiveBatch:
        """The batch with its queries' own candidates and teacher scores, (B, C) each, -1/0 padded."""
        own, scores = self.sampler.own_candidates(idx, negatives)
        own, scores = own[part], scores[part]
        width = max(len(o) for o in own)
        own_t = torch.full((len(own), width), -1, dtype=torch.long)
        teacher_t = torch.zeros((len(own), width), dtype=torch.float32)
        for r, (o, t) in enumerate(zip(own, scores, strict=True)):
            own_t[r, : len(o)] = torch.tensor(o, dtype=torch.long)
            teacher_t[r, : len(t)] = torch.tensor(t, dtype=torch.float32)
        return dataclasses.replace(batch, own=own_t, teacher=teacher_t)

    def _global_sum(self, *ns: int) -> tuple[int, ...]:
        """Sums over processes of per-process counts, in one all-reduce."""
        if self.world_size == 1:
            return ns
        t = torch.tensor(ns, device=self.device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(t)
        return tuple(int(x) for x in t)
