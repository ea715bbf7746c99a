"""BGE-M3's scores and its loss: InfoNCE per head plus self-knowledge distillation, as pure functions.

Scores of B queries against N candidates, each (B, N):

    dense    s = q . d                                   (cosine on unit vectors)
    sparse   s = sum over ids in both texts of w_q[id] * w_d[id]   (= q_lex @ d_lex.T)
    colbert  s = mean over query tokens i of max over document tokens j of q_i . d_j

Loss, with logits = s / temperature per head h, positives at column ``offset + i`` (in-batch and hard
negatives are every other column, as in :mod:`train.losses`), score weights w and loss weights λ
(M3's defaults w = (1, 0.3, 1), λ = (1, 0.1, 1); see :mod:`train.m3_config`):

    fused    = sum_h w_h logits_h                            (the teacher; M3's s_inter)
    L        = (sum_h λ_h CE(logits_h) + CE(fused)) / (n_heads + 1)
    L'       = sum_h λ_h SoftCE(logits_h, softmax(fused).detach()) / n_heads
    loss     = (L + L') / 2  with self-distillation,  L  without

which for the three heads is FlagEmbedding's M3 loss term for term. SoftCE(x, p) = -sum_j p_j log
softmax(x)_j: the KL divergence to the teacher up to the teacher's (constant) entropy.

Worked example (temperature 1, one query, two candidates, heads dense and sparse, w = λ = (1, 1)):
s_dense = [1, 0], s_sparse = [0, 0] -> fused = [1, 0]; CE(dense) = CE(fused) = log(1 + e^-1) ~= 0.3133,
CE(sparse) = log 2 ~= 0.6931, L = 1.3197 / 3 ~= 0.4399; teacher p = softmax([1, 0]) ~= [0.7311, 0.2689],
SoftCE(dense) = H(p) ~= 0.5822, SoftCE(sparse) = log 2, L' ~= 0.6376; loss ~= 0.5388.

Memory: colbert scores build a (B, N, Tq, Td) similarity block; sparse vectors are (n, V).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor


def sparse_scores(q_lex: Tensor, d_lex: Tensor) -> Tensor:
    """(B, V), (N, V) lexical weights -> (B, N): sum over shared ids of w_q * w_d."""
    return q_lex @ d_lex.T


def colbert_scores(q_vecs: Tensor, q_mask: Tensor, d_vecs: Tensor, d_mask: Tensor) -> Tensor:
    """(B, Tq, D), (B, Tq), (N, Td, D), (N, Td) -> (B, N): mean over the query's tokens of the best
    dot product with any of the document's tokens. Masked tokens neither score nor count.

        q = [[1, 0], [0, 1]] (two tokens), d = [[1, 0], [.6, .8]] -> (max(1, .6) + max(0, .8)) / 2 = .9
    """
    assert bool(d_mask.any(dim=1).all()), "every document needs at least one token with a vector"
    sim = torch.einsum("aid,bjd->abij", q_vecs, d_vecs)  # (B, N, Tq, Td)
    sim = sim.masked_fill(~d_mask.bool()[None, :, None, :], float("-inf"))
    best = sim.max(dim=-1).values  # (B, N, Tq)
    best = best.masked_fill(~q_mask.bool()[:, None, :], 0.0)
    return best.sum(dim=-1) / q_mask.sum(dim=-1, keepdim=True).clamp(min=1)  # (B, N)


def fused_scores(scores: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    """sum_h weights[h] * scores[h] over the heads in ``scores`` (M3's s_inter; the hybrid of eval)."""
    return sum(weights[h] * s for h, s in scores.items())  # type: ignore[return-value]


def soft_cross_entropy(logits: Tensor, teacher: Tensor) -> Tensor:
    """(B, N) student logits, (B, N) teacher probabilities -> mean over rows of -sum p log softmax(logits)."""
    return -(teacher * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def m3_loss(
    scores: Mapping[str, Tensor],
    temperature: float,
    score_weights: Mapping[str, float],
    loss_weights: Mapping[str, float],
    distill: bool = True,
    offset: int = 0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-head (B, N) scores -> (loss, parts): the module docstring's loss and its terms (detached)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = {h: s.float() / temperature for h, s in scores.items()}  # each (B, N)
    first = next(iter(logits.values()))
    labels = torch.arange(first.shape[0], device=first.device) + offset  # (B,)
    fused = fused_scores(logits, score_weights)  # (B, N)
    ce = {h: F.cross_entropy(x, labels) for h, x in logits.items()}
    fused_ce = F.cross_entropy(fused, labels)
    loss = (sum(loss_weights[h] * v for h, v in ce.items()) + fused_ce) / (len(ce) + 1)
    parts = {f"loss_{h}": v.detach() for h, v in ce.items()} | {"loss_fused": fused_ce.detach()}
    if distill:
        teacher = torch.softmax(fused.detach(), dim=-1)  # (B, N)
        kd = {h: soft_cross_entropy(x, teacher) for h, x in logits.items()}
        loss = (loss + sum(loss_weights[h] * v for h, v in kd.items()) / len(kd)) / 2
        parts |= {f"distill_{h}": v.detach() for h, v in kd.items()}
    return loss, parts
