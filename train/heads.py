"""BGE-M3's three representations of a text from one forward pass: dense, sparse lexical, multi-vector.

From the last hidden states ``h`` (B, T, H) of a token batch:

- **dense**: the model's pooling (last token / mean) of ``h``, L2-normalised: what train.lora makes
  without heads, and what the exported sentence-transformers model gives.
- **sparse** (lexical weights): ``w_t = relu(sparse_linear(h_t))`` per token, then per vocabulary id
  the largest weight over the text's tokens, special tokens (CLS, SEP/EOS, pad, unk, ...) and padding
  out. A text becomes a (V,) vector that is zero outside its own ids:

      ids [7, 9, 7, 3], weights [.2, .5, .4, .9], 3 special -> {7: .4, 9: .5}

- **colbert** (multi-vector): ``normalize(colbert_linear(h_t))`` per token, padding zeroed; when the
  tokenizer puts a special token first (BERT's [CLS]) that position is left out, as M3 leaves out
  [CLS]. A text becomes (T, D) vectors and a (T,) mask of the ones that count.

The scores of those representations are in :mod:`train.m3_losses`. The linear layers are
``sparse_linear`` (H -> 1) and ``colbert_linear`` (H -> H), named and shaped as FlagEmbedding's M3
model names them, so its loader reads our files (:mod:`train.heads_io`). Evaluation imports these
same functions, as it imports :func:`train.modeling.embed`.

Not handled: a colbert dimension other than the hidden size (FlagEmbedding's ``colbert_dim``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from train.modeling import last_hidden_state
from train.pooling import pool

HEADS = ("dense", "sparse", "colbert")


class Reps(NamedTuple):
    """One token batch's representations; a head that is off is None."""

    dense: Tensor  # (n, H) unit length when the encoder normalises
    sparse: Tensor | None  # (n, V) lexical weight per vocabulary id, >= 0
    colbert: Tensor | None  # (n, T, D) unit vectors, zero where colbert_mask is 0
    colbert_mask: Tensor | None  # (n, T) long, 1 = a token whose vector counts


def lexical_weights(
    token_weights: Tensor, input_ids: Tensor, attention_mask: Tensor, excluded_ids: Tensor, vocab_size: int
) -> Tensor:
    """(B, T) weights >= 0, ids and mask -> (B, V): the max weight per id, padding and ``excluded_ids`` 0."""
    keep = attention_mask.bool() & ~torch.isin(input_ids, excluded_ids)  # (B, T)
    w = token_weights * keep.to(token_weights.dtype)  # (B, T)
    out = w.new_zeros((w.shape[0], vocab_size))  # (B, V); the weights are >= 0, so 0 is a neutral start
    return out.scatter_reduce(1, input_ids, w, reduce="amax", include_self=True)  # (B, V)


def colbert_mask(attention_mask: Tensor, skip_first: bool) -> Tensor:
    """(B, T) mask of the tokens with a multi-vector: all real tokens, less the first real one when
    ``skip_first`` (the [CLS]/BOS the tokenizer puts first). Either padding side.

        [[1, 1, 1, 0]], skip_first -> [[0, 1, 1, 0]];   [[0, 1, 1]] -> [[0, 0, 1]]
    """
    mask = attention_mask.long().clone()
    if skip_first:
        first = mask.argmax(dim=1)  # (B,) position of the first 1
        mask[torch.arange(mask.shape[0], device=mask.device), first] = 0
    return mask


class Heads(nn.Module):
    """The trainable heads on top of the backbone (trained in full, not through LoRA)."""

    def __init__(
        self,
        hidden: int,
        heads: Sequence[str],
        vocab_size: int,
        excluded_ids: Sequence[int],
        skip_first: bool,
    ) -> None:
        super().__init__()
        unknown = set(heads) - set(HEADS)
        assert not unknown and "dense" in heads, f"heads {list(heads)}: need dense, and only {HEADS}"
        self.heads, self.vocab_size, self.skip_first = tuple(heads), vocab_size, skip_first
        self.register_buffer("excluded_ids", torch.tensor(sorted(set(excluded_ids)), dtype=torch.long))
        self.sparse_linear = nn.Linear(hidden, 1) if "sparse" in heads else None
        self.colbert_linear = nn.Linear(hidden, hidden) if "colbert" in heads else None

    def forward(
        self, hidden: Tensor, batch: dict[str, Tensor]
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """(B, T, H) last hidden states -> (sparse (B, V), colbert (B, T, D), colbert mask (B, T)), None when off."""
        sparse = vecs = mask = None
        if self.sparse_linear is not None:
            h = hidden.to(self.sparse_linear.weight.dtype)
            weights = torch.relu(self.sparse_linear(h)).squeeze(-1).float()  # (B, T)
            sparse = lexical_weights(
                weights, batch["input_ids"], batch["attention_mask"], self.excluded_ids, self.vocab_size
            )
        if self.colbert_linear is not None:
            h = hidden.to(self.colbert_linear.weight.dtype)
            mask = colbert_mask(batch["attention_mask"], self.skip_first)  # (B, T)
            vecs = F.normalize(self.colbert_linear(h).float(), p=2, dim=-1) * mask.unsqueeze(-1)  # (B, T, D)
        return sparse, vecs, mask


class MultiHeadEncoder(nn.Module):
    """The trainer's module for ``--heads``: like :class:`train.modeling.Encoder`, one forward for any
    number of token batches (one forward per backward for DDP/DeepSpeed), but each batch gives a
    :class:`Reps` instead of a dense tensor."""

    def __init__(self, backbone: nn.Module, pooling: str, normalize: bool, heads: Heads) -> None:
        super().__init__()
        self.backbone, self.pooling, self.normalize, self.heads = backbone, pooling, normalize, heads

    def represent(self, batch: dict[str, Tensor]) -> Reps:
        hidden = last_hidden_state(self.backbone, batch)  # (n, T, H)
        dense = pool(hidden, batch["attention_mask"], self.pooling).float()  # (n, H), as train.modeling.embed
        dense = F.normalize(dense, p=2, dim=-1) if self.normalize else dense
        return Reps(dense, *self.heads(hidden, batch))

    def forward(self, *batches: dict[str, Tensor]) -> tuple[Reps, ...]:
        return tuple(self.represent(b) for b in batches)
