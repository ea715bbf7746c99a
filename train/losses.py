"""Contrastive losses as pure functions of embeddings; InfoNCE over in-batch and hard negatives.

For query i with embedding q_i and candidate documents d_0 .. d_{N-1} (the positive of query i is
d_{offset + i}; every other document is a negative):

    loss_i = -log( exp(s(q_i, d_{offset+i}) * scale) / sum_j exp(s(q_i, d_j) * scale) ),
    scale = 1 / temperature,   s = dot product (= cosine on L2-normalised embeddings)

and the loss is the mean over queries: ``cross_entropy(q @ d.T / temperature, offset + arange(B))``.
Worked example (temperature 1): q = [[1, 0]], d = [[1, 0], [0, 1]] gives logits [1, 0] and loss
``-log(e / (e + 1)) = log(1 + e^-1) ~= 0.3133``. With temperature 0.02 the same cosines give
logits [50, 0]. ``offset`` lets each process score its own queries against a gathered global set.

The trainer scores a :class:`Candidates` (built by :func:`train.distributed.gather_candidates`) with
a loss from :data:`LOSSES`; a new loss is one more function of that signature and one entry there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Candidates:
    """One process's queries and the documents of the GLOBAL batch they are scored against.

    Rank r of W, each holding B queries: its query i has its positive at ``positives[offset + i]``
    (offset = r * B); every other positive and every hard negative is a negative for it.
    """

    queries: Tensor  # (B, H) this process's queries
    positives: Tensor  # (W * B, H) every process's positives, in rank order
    negatives: Tensor  # (M, H) every process's hard negatives, in rank order; M may be 0
    offset: int = 0  # where this process's positives start in ``positives``


def info_nce(q: Tensor, d: Tensor, temperature: float, offset: int = 0) -> Tensor:
    """(B, H) queries, (N, H) candidates with positives at d[offset : offset + B] -> scalar loss."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if d.shape[0] < offset + q.shape[0]:
        raise ValueError(
            f"need positives at d[{offset}:{offset + q.shape[0]}], but only {d.shape[0]} candidates"
        )
    logits = q @ d.T / temperature  # (B, N)
    labels = torch.arange(q.shape[0], device=q.device) + offset  # (B,)
    return F.cross_entropy(logits.float(), labels)


def candidates_info_nce(c: Candidates, temperature: float) -> Tensor:
    """InfoNCE of the queries against [all positives] + [all hard negatives] (the paper's loss)."""
    docs = torch.cat([c.positives, c.negatives])  # (W * B + M, H)
    return info_nce(c.queries, docs, temperature, offset=c.offset)


Loss = Callable[[Candidates, float], Tensor]  # (candidates, temperature) -> scalar loss
LOSSES: dict[str, Loss] = {"info_nce": candidates_info_nce}
