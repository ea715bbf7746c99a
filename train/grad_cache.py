"""GradCache (Gao et al. 2021): the full-batch contrastive loss and gradients with the activation
memory of ``chunk`` sequences.

The loss depends on the parameters only through the embeddings, so by the chain rule

    dL/dθ = Σ_chunks (dL/de_chunk) · (de_chunk/dθ)

Step 1 embeds every chunk under ``no_grad`` (no activations kept) and computes the loss on the
detached embeddings with autograd, giving dL/de for all of them (the "cache"). Step 2 re-embeds each
chunk WITH a graph and backpropagates ``(e_chunk * cached_grad).sum()``, whose gradient is exactly
the term above. The sum over chunks is the full-batch gradient, up to float summation order.

Dropout must draw the same masks in both passes, so each chunk's RNG state is saved before step 1
and restored for step 2 (``RandState``). What this module does NOT do: decide when gradients are
synchronised across processes; the caller passes ``no_sync`` for all but the last backward.

``encode`` may also return a tuple (or NamedTuple) of tensors, some None, as the ``--heads`` encoder
does (dense, sparse, multi-vectors, their mask): each field is cached and backpropagated the same
way. Per-token fields (n, T, ...) of chunks cut to different widths are right-padded with zeros to
the widest chunk, and each chunk's gradient is cut back to its own shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

Encode = Callable[[dict[str, Tensor]], Tensor]  # token batch (n, T) -> embeddings (n, H)


class RandState:
    """Snapshot of the CPU (and CUDA) RNG, restorable with ``with state: ...``."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def __enter__(self) -> None:
        self.saved = RandState.__new__(RandState)
        self.saved.cpu = torch.get_rng_state()
        self.saved.cuda = torch.cuda.get_rng_state_all() if self.cuda is not None else None
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)

    def __exit__(self, *exc) -> None:
        # Leave the global RNG where it was, so step 2 does not replay step 1's randomness later.
        torch.set_rng_state(self.saved.cpu)
        if self.saved.cuda is not None:
            torch.cuda.set_rng_state_all(self.saved.cuda)


def split(batch: dict[str, Tensor], chunk: int) -> list[dict[str, Tensor]]:
    """Row chunks of a token batch, with trailing all-padding columns cut (a short chunk runs shorter).

    Only trailing columns are cut: dropping leading (left) padding would shift absolute positions.
    """
    out = []
    for i in range(0, batch["input_ids"].shape[0], chunk):
        part = {k: v[i : i + chunk] for k, v in batch.items()}
        used = part["attention_mask"].any(dim=0).nonzero()  # (T',) columns with a real token
        width = int(used.max()) + 1 if used.numel() else part["attention_mask"].shape[1]
        out.append({k: v[:, :width] for k, v in part.items()})
    return out


def _fields(out) -> list[Tensor | None]:
    return [out] if isinstance(out, Tensor) else list(out)


def _like(template, fields: list):
    """``fields`` in the shape of ``template``: a tensor, a tuple or a NamedTuple."""
    if isinstance(template, Tensor):
        return fields[0]
    return type(template)(*fields) if hasattr(template, "_fields") else tuple(fields)


def _cat(parts: list[Tensor | None]) -> Tensor | None:
    """Chunks' outputs of one field along dim 0, right-padded to the widest dim 1 when they differ."""
    if parts[0] is None:
        return None
    shape = [max(p.shape[i] for p in parts) for i in range(1, parts[0].dim())]  # widest per dim
    padded = []
    for p in parts:
        pad = [x for i in reversed(range(1, p.dim())) for x in (0, shape[i - 1] - p.shape[i])]
        padded.append(torch.nn.functional.pad(p, pad) if any(pad) else p)
    return torch.cat(padded)


def embed_no_grad(encode: Encode, chunks: list[dict[str, Tensor]]) -> tuple[Tensor, list[RandState]]:
    """Step 1: embeddings of all chunks without a graph, plus each chunk's RNG state."""
    states, embs = [], []
    with torch.no_grad():
        for c in chunks:
            states.append(RandState())
            embs.append(encode(c))  # (n_c, H), or a tuple of fields
    fields = [_cat(list(parts)) for parts in zip(*(_fields(e) for e in embs), strict=True)]
    return _like(embs[0], fields), states  # (n, H), or a tuple of (n, ...) fields


def grad_cache_backward(
    encode: Encode,
    batches: list[dict[str, Tensor]],
    loss_fn: Callable[..., Tensor],
    chunk: int,
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Tensor:
    """Compute ``loss_fn(*embeddings_of(batches))`` and accumulate its gradient into the parameters.

    ``batches`` are the token batches whose embeddings the loss takes (here: queries, docs). Returns
    the detached loss. ``no_sync`` wraps every chunk backward except the very last one.
    """
    chunked = [split(b, chunk) for b in batches]
    cached = [embed_no_grad(encode, cs) for cs in chunked]
    leaves = [_like(e, [_leaf(x) for x in _fields(e)]) for e, _ in cached]
    loss = loss_fn(*leaves)
    loss.backward()  # fills leaf.grad = dL/de for every embedding; touches no parameter
    jobs = list(_jobs(chunked, cached, leaves))
    for n, (c, state, grads) in enumerate(jobs):
        ctx = no_sync() if n < len(jobs) - 1 else contextlib.nullcontext()
        with ctx, state:
            outs = _fields(encode(c))  # (n_c, H) or fields, with a graph this time
            pairs = [(o, _cut(g, o)) for o, g in zip(outs, grads, strict=True) if g is not None]
            # == backward of sum over fields of (out * grad).sum()
            torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    return loss.detach()


def _leaf(x: Tensor | None) -> Tensor | None:
    """A detached copy that collects dL/dx; integer fields (masks) take no gradient."""
    if x is None:
        return None
    return x.detach().requires_grad_(x.is_floating_point())


def _cut(grad: Tensor, out: Tensor) -> Tensor:
    """A chunk's slice of a padded field's gradient, cut back to the chunk's own width."""
    return grad[(slice(None), *(slice(0, n) for n in out.shape[1:]))]


def _jobs(chunked, cached, leaves) -> Iterator[tuple[dict[str, Tensor], RandState, list[Tensor | None]]]:
    for cs, (_, states), leaf in zip(chunked, cached, leaves, strict=True):
        grads = [x.grad if x is not None and x.requires_grad else None for x in _fields(leaf)]
        start = 0
        for c, st in zip(cs, states, strict=True):
            n = c["input_ids"].shape[0]
            yield c, st, [g[start : start + n] if g is not None else None for g in grads]
            start += n
