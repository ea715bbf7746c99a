"""Process-group helpers: gathering embeddings WITH gradients into the global candidate set.

Each process embeds its slice of the global batch. ``gather_candidates`` gathers every process's
positives and hard negatives (rank order, so the candidates are exactly the ones a single process
would have from the joined batch); a loss of :mod:`train.losses` then scores the local queries
against all of them. Gathering knows nothing of the loss, the loss nothing of processes. The gather
keeps the autograd graph: the backward of the gather sums, over all processes, the gradient each
one's loss sends to this process's embeddings (an all-reduce), then takes the local slice. With
gradients averaged across processes by DDP/DeepSpeed that is exactly the gradient of the global
mean loss:

    d/dθ (1/W) Σ_r loss_r = (1/W) Σ_r [Σ_r' ∂loss_r'/∂e_r] ∂e_r/∂θ

All-reduce is used instead of reduce-scatter/all-to-all because gloo (CPU) supports it.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from train.losses import Candidates


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) when no process group is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int]) -> Tensor:  # (n, H) -> (Σ sizes, H)
        rank, _ = world()
        width = max(sizes)
        padded = x.new_zeros((width, *x.shape[1:]))  # (max_n, H): all_gather needs equal shapes
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        ctx.rank, ctx.sizes = rank, sizes
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()  # (Σ sizes, H): every process holds its own loss's gradient
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # now: Σ over processes' losses
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (n_r, H) from all ranks in rank order; n_r may differ. Identity on one process."""
    rank, size = world()
    if size == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)  # sizes differ: ranks have different hard-negative counts
    sizes = [torch.zeros_like(n) for _ in range(size)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    if max(sizes) == 0:  # e.g. no hard negatives anywhere in this step
        return x
    return _GatherWithGrad.apply(x, sizes)


def gather_candidates(
    q: Tensor, d: Tensor, n_pos: int, own: Tensor | None = None, teacher: Tensor | None = None
) -> Candidates:
    """This rank's queries and the GLOBAL positives and hard negatives, gathered with gradients.

    q: (B, H) local queries; d: (B + M, H) local positives then local hard negatives. Query i of
    rank r has its positive at ``positives[r * B + i]`` (every rank holds the same B). ``own`` and
    ``teacher`` (teacher losses) index the global documents already and pass through unchanged.
    """
    rank, _ = world()
    positives = gather_with_grad(d[:n_pos])  # (W * B, H)
    negatives = gather_with_grad(d[n_pos:])  # (Σ M_r, H)
    return Candidates(q, positives, negatives, offset=rank * n_pos, own=own, teacher=teacher)


def mean_over_ranks(x: float) -> float:
    """Average a Python number over processes (for logging the global loss)."""
    _, size = world()
    if size == 1:
        return x
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors only
    t = torch.tensor([x], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / size
