"""One ``--heads`` training step's loss: gather every head's candidates across processes, score, M3 loss.

The candidates are the ones of the dense loss (:func:`train.distributed.gather_candidates`): every
process's positives in rank order, then every process's hard negatives, gathered with gradients, so
all heads score the same columns and the teacher mixes scores of the same documents. Multi-vectors
of different processes have different token counts; they are right-padded (mask 0) to the widest
before the gather.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from train.distributed import gather_with_grad, world
from train.heads import Reps
from train.m3_losses import colbert_scores, m3_loss, sparse_scores


def _global_width(width: int, device: torch.device) -> int:
    if world()[1] == 1:
        return width
    t = torch.tensor([width], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)


def _pad_tokens(x: Tensor, width: int) -> Tensor:
    """(n, T, ...) -> (n, width, ...) with zeros after position T."""
    extra = width - x.shape[1]
    if extra == 0:
        return x
    pad = [0, 0] * (x.dim() - 2) + [0, extra]  # F.pad counts from the last dimension
    return F.pad(x, pad)


def gather_docs(d: Reps, n_pos: int) -> Reps:
    """This process's (B + M) documents -> the global candidates: all positives, then all negatives."""
    fields = []
    width = _global_width(d.colbert.shape[1], d.colbert.device) if d.colbert is not None else 0
    for name, x in zip(Reps._fields, d, strict=True):
        if x is None:
            fields.append(None)
            continue
        if name.startswith("colbert"):
            x = _pad_tokens(x, width)
        fields.append(torch.cat([gather_with_grad(x[:n_pos]), gather_with_grad(x[n_pos:])]))
    return Reps(*fields)


def head_scores(q: Reps, d: Reps) -> dict[str, Tensor]:
    """(B, N) scores of every head that is on."""
    scores = {"dense": q.dense @ d.dense.T}
    if q.sparse is not None:
        scores["sparse"] = sparse_scores(q.sparse, d.sparse)
    if q.colbert is not None:
        scores["colbert"] = colbert_scores(q.colbert, q.colbert_mask, d.colbert, d.colbert_mask)
    return scores


class M3StepLoss:
    """The trainer's ``step_loss`` for ``--heads``: (query Reps, doc Reps, n_pos, step) -> scalar loss.

    ``last_parts``: the previous call's loss terms (this process's), for the metrics log.
    """

    def __init__(
        self,
        heads: Sequence[str],
        temperature: float,
        score_weights: Sequence[float],
        loss_weights: Sequence[float],
        distill_start_step: int = 0,
    ) -> None:
        names = ("dense", "sparse", "colbert")
        self.heads, self.temperature = tuple(heads), temperature
        self.score_weights = dict(zip(names, score_weights, strict=True))
        self.loss_weights = dict(zip(names, loss_weights, strict=True))
        self.distill_start_step = distill_start_step
        self.last_parts: dict[str, float] = {}

    def __call__(self, q: Reps, d: Reps, n_pos: int, step: int) -> Tensor:
        rank, _ = world()
        docs = gather_docs(d, n_pos)
        distill = self.distill_start_step >= 0 and step >= self.distill_start_step
        loss, parts = m3_loss(
            head_scores(q, docs),
            self.temperature,
            self.score_weights,
            self.loss_weights,
            distill,
            rank * n_pos,
        )
        self.last_parts = {k: float(v) for k, v in parts.items()}
        return loss
