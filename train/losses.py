"""Contrastive losses as pure functions of embeddings; InfoNCE over in-batch and hard negatives.

For query i with embedding q_i and candidate documents d_0 .. d_{N-1} (the positive of query i is
d_{offset + i}; every other document is a negative):

    loss_i = -log( exp(s(q_i, d_{offset+i}) * scale) / sum_j exp(s(q_i, d_j) * scale) ),
    scale = 1 / temperature,   s = dot product (= cosine on L2-normalised embeddings)

and the loss is the mean over queries: ``cross_entropy(q @ d.T / temperature, offset + arange(B))``.
Worked example (temperature 1): q = [[1, 0]], d = [[1, 0], [0, 1]] gives logits [1, 0] and loss
``-log(e / (e + 1)) = log(1 + e^-1) ~= 0.3133``. With temperature 0.02 the same cosines give
logits [50, 0]. ``offset`` lets each process score its own queries against a gathered global set.

Two more losses distil a teacher's scores (``teacher_scores`` in the data, aligned with
:mod:`common.candidates`) over each query's OWN candidates, its positive and the hard negatives its
row drew (``Candidates.own``): ``kd`` is E5's ``KL(p_teacher || p_student) + alpha * InfoNCE``
(:func:`kd_kl`), ``margin_mse`` GPL's margin regression (:func:`margin_mse`). Student scores are
cosines divided by ``--temperature``, teacher scores divided by ``--teacher-temperature``, in both.
:func:`matryoshka` sums any of them over re-normalised prefixes of the embeddings.

The trainer scores a :class:`Candidates` (built by :func:`train.distributed.gather_candidates`) with
the loss :func:`build_loss` makes from :data:`LOSSES`; a new loss is one more function of that
signature and one entry there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Candidates:
    """One process's queries and the documents of the GLOBAL batch they are scored against.

    Rank r of W, each holding B queries: its query i has its positive at ``positives[offset + i]``
    (offset = r * B); every other positive and every hard negative is a negative for it.

    ``own`` and ``teacher`` (both (B, C), for ``kd``/``margin_mse``): query i's OWN candidates as
    indices into :attr:`docs` (column 0 its positive, then the hard negatives its row drew; -1 pads
    a row with fewer) and the teacher's score of each, aligned.
    """

    queries: Tensor  # (B, H) this process's queries
    positives: Tensor  # (W * B, H) every process's positives, in rank order
    negatives: Tensor  # (M, H) every process's hard negatives, in rank order; M may be 0
    offset: int = 0  # where this process's positives start in ``positives``
    own: Tensor | None = None  # (B, C) long, -1 = padding
    teacher: Tensor | None = None  # (B, C) float

    @property
    def docs(self) -> Tensor:
        return torch.cat([self.positives, self.negatives])  # (W * B + M, H)

    def prefix(self, dim: int) -> Candidates:
        """The same candidates with every embedding cut to its first ``dim`` values and re-normalised."""
        cut = lambda x: F.normalize(x[:, :dim], p=2, dim=-1)  # noqa: E731
        return dataclasses.replace(
            self, queries=cut(self.queries), positives=cut(self.positives), negatives=cut(self.negatives)
        )


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


def kd_kl(
    student: Tensor, teacher: Tensor, mask: Tensor, temperature: float, teacher_temperature: float
) -> Tensor:
    """Mean over queries of KL(p_teacher || p_student) over each query's own candidates.

    student, teacher: (B, C) scores (cosine; the teacher's own scale), mask: (B, C) bool, True where
    a candidate is real. p = softmax(scores / temperature) over the real candidates of the row:

        student [[1, 0]], teacher [[2, 0]], temperatures 1, 1:
        p_t = [0.8808, 0.1192], p_s = [0.7311, 0.2689]
        KL = 0.8808 * log(0.8808 / 0.7311) + 0.1192 * log(0.1192 / 0.2689) = 0.0671

    A row with one real candidate has KL 0. Equals ``kl_div(log p_s, p_t, reduction="batchmean")``
    when nothing is masked.
    """
    if temperature <= 0 or teacher_temperature <= 0:
        raise ValueError(f"temperatures must be > 0, got {temperature} and {teacher_temperature}")
    neg_inf = torch.finfo(torch.float32).min  # not -inf: 0 * -inf would be NaN for padded columns
    log_ps = torch.log_softmax((student.float() / temperature).masked_fill(~mask, neg_inf), dim=-1)
    log_pt = torch.log_softmax((teacher.float() / teacher_temperature).masked_fill(~mask, neg_inf), dim=-1)
    kl = torch.where(mask, log_pt.exp() * (log_pt - log_ps), torch.zeros_like(log_ps))  # (B, C)
    return kl.sum(dim=-1).mean()


def margin_mse(
    student: Tensor, teacher: Tensor, mask: Tensor, temperature: float, teacher_temperature: float
) -> Tensor:
    """GPL's MarginMSE: (s_pos - s_neg) / temperature regressed onto (t_pos - t_neg) / teacher_temperature.

    Column 0 of student/teacher (B, C) is the positive, the other real columns (mask) negatives. Each
    query's loss is the mean over its negatives, and the loss the mean over queries (a query without
    negatives adds 0), so several processes' mean is the one-process mean:

        student [[0.9, 0.5, 0.7]], teacher [[3, 1, 2]], temperatures 1, 1:
        student margins [0.4, 0.2], teacher margins [2, 1] -> ((0.4-2)^2 + (0.2-1)^2) / 2 = 1.6

    With temperatures 1 and every row full it equals sentence-transformers' MarginMSELoss.
    """
    if temperature <= 0 or teacher_temperature <= 0:
        raise ValueError(f"temperatures must be > 0, got {temperature} and {teacher_temperature}")
    s, t = student.float(), teacher.float()
    ms = (s[:, :1] - s[:, 1:]) / temperature  # (B, C - 1)
    mt = (t[:, :1] - t[:, 1:]) / teacher_temperature
    valid = mask[:, 1:].to(ms.dtype)
    per_query = ((ms - mt) ** 2 * valid).sum(dim=-1) / valid.sum(dim=-1).clamp(min=1)  # (B,)
    return per_query.mean()


def own_scores(c: Candidates) -> tuple[Tensor, Tensor, Tensor]:
    """(student cosines, teacher scores, mask), each (B, C), over each query's own candidates."""
    if c.own is None or c.teacher is None:
        raise ValueError(
            "this loss needs each query's own candidates and teacher scores (Candidates.own/teacher)"
        )
    mask = c.own >= 0
    d = c.docs
    picked = d[c.own.clamp(min=0)]  # (B, C, H)
    student = torch.einsum("bh,bch->bc", c.queries, picked)
    return student, c.teacher.to(student.device), mask


def candidates_info_nce(c: Candidates, temperature: float, **_: float) -> Tensor:
    """InfoNCE of the queries against [all positives] + [all hard negatives] (the paper's loss)."""
    return info_nce(c.queries, c.docs, temperature, offset=c.offset)


def candidates_kd(
    c: Candidates, temperature: float, teacher_temperature: float = 1.0, kd_alpha: float = 0.2, **_: float
) -> Tensor:
    """E5's fine-tuning loss: KL(p_teacher || p_student) over own candidates + kd_alpha * InfoNCE."""
    student, teacher, mask = own_scores(c)
    kl = kd_kl(student, teacher, mask, temperature, teacher_temperature)
    return kl + kd_alpha * candidates_info_nce(c, temperature) if kd_alpha else kl


def candidates_margin_mse(
    c: Candidates, temperature: float, teacher_temperature: float = 1.0, **_: float
) -> Tensor:
    """GPL's loss alone (no InfoNCE term) over each query's positive and own hard negatives."""
    student, teacher, mask = own_scores(c)
    return margin_mse(student, teacher, mask, temperature, teacher_temperature)


Loss = Callable[..., Tensor]  # (candidates, temperature, **options) -> scalar loss
LOSSES: dict[str, Loss] = {
    "info_nce": candidates_info_nce,
    "kd": candidates_kd,
    "margin_mse": candidates_margin_mse,
}
TEACHER_LOSSES = ("kd", "margin_mse")  # the losses that read teacher_scores


def matryoshka(
    loss: Callable[[Candidates], Tensor], dims: Sequence[int], weights: Sequence[float] | None = None
) -> Callable[[Candidates], Tensor]:
    """Matryoshka (Kusupati et al. 2022): sum over ``dims`` of weight_k * loss(candidates cut to k dims).

    Each prefix is L2-normalised again, as eval's ``--dim K`` does, so the loss trains exactly the
    vectors a user gets by truncating. Weights default to 1 each.
    """
    weights = list(weights) if weights else [1.0] * len(dims)
    if len(weights) != len(dims):
        raise ValueError(f"{len(weights)} matryoshka weights for {len(dims)} dims")

    def summed(c: Candidates) -> Tensor:
        return sum(w * loss(c.prefix(k)) for k, w in zip(dims, weights, strict=True))

    return summed


def build_loss(
    name: str,
    temperature: float,
    *,
    teacher_temperature: float = 1.0,
    kd_alpha: float = 0.2,
    matryoshka_dims: Sequence[int] = (),
    matryoshka_weights: Sequence[float] | None = None,
) -> Callable[[Candidates], Tensor]:
    """The trainer's loss: a :data:`LOSSES` entry with its options, Matryoshka-summed when dims are given."""
    if name not in LOSSES:
        raise ValueError(f"loss {name!r} is not one of {', '.join(LOSSES)}")
    fn = LOSSES[name]
    options = (
        {"teacher_temperature": teacher_temperature, "kd_alpha": kd_alpha} if name in TEACHER_LOSSES else {}
    )

    def loss(c: Candidates) -> Tensor:
        return fn(c, temperature, **options)

    return matryoshka(loss, matryoshka_dims, matryoshka_weights) if matryoshka_dims else loss
