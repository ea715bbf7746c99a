"""The embedding forward pass shared by training and evaluation.

``embed`` = backbone -> pool -> (optionally) L2-normalise. It works on a plain ``AutoModel``, a
``peft`` model wrapping one, or a DeepSpeed engine wrapping either, since all three take
``input_ids``/``attention_mask`` and return the last layer's states.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from train.pooling import pool


def last_hidden_state(model, batch: dict) -> Tensor:
    """(B, T) token batch -> (B, T, H) states of the last layer (train.heads reads them too)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hidden = getattr(out, "last_hidden_state", None)
    if hidden is None:  # a *ForCausalLM head was passed: ask for the states instead of the logits
        out = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        )
        hidden = out.hidden_states[-1]
    return hidden


def embed(model, batch: dict, pooling: str, normalize: bool = True) -> Tensor:
    """(B, T) token batch -> (B, H) float32 embeddings, unit length when ``normalize``.

    Pooling and normalisation run in float32 so a bf16 backbone gives the same vectors as our
    encoder in evaluation and as sentence-transformers (which also normalises after pooling).
    """
    hidden = last_hidden_state(model, batch)  # (B, T, H)
    emb = pool(hidden, batch["attention_mask"], pooling).float()  # (B, H)
    return F.normalize(emb, p=2, dim=-1) if normalize else emb


class Encoder(nn.Module):
    """The module the trainer wraps in DDP/DeepSpeed: one forward embeds any number of token batches.

    Queries and documents go through a single ``forward`` call so that DDP and DeepSpeed see exactly
    one forward per backward (two wrapped calls before one backward confuse their gradient hooks).
    """

    def __init__(self, backbone: nn.Module, pooling: str, normalize: bool = True) -> None:
        super().__init__()
        self.backbone, self.pooling, self.normalize = backbone, pooling, normalize

    def forward(self, *batches: dict[str, Tensor]) -> tuple[Tensor, ...]:
        return tuple(embed(self.backbone, b, self.pooling, self.normalize) for b in batches)  # each (n, H)
