"""Pooling of token states into one vector per sequence.

Training and evaluation import these same functions, so an embedding means the same thing in both.

``last_token_pool`` reads the hidden state at the last *real* token, i.e. the EOS our collator
appends (see :mod:`train.inputs`). It finds that position from the attention mask, so it is right
for left padding, right padding and no padding alike:

    mask [[0, 0, 1, 1],   ->  last index 3  (left padded)
          [1, 1, 1, 0]]   ->  last index 2  (right padded)

It does NOT check that the token there is an EOS: that is the tokenizer-side guarantee of
:func:`train.inputs.tokenize`.
"""

from __future__ import annotations

import torch
from torch import Tensor

POOLING_MODES = ("last", "mean")


def last_token_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Hidden state at the last position whose mask is 1. (B, T, H), (B, T) -> (B, H)."""
    if hidden.dim() != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"expected hidden (B, T, H) and mask (B, T), got {tuple(hidden.shape)} and {tuple(attention_mask.shape)}"
        )
    positions = torch.arange(hidden.shape[1], device=hidden.device)  # (T,)
    # Position of the last 1 in each row; argmax of mask*pos works for either padding side.
    last = (attention_mask.to(positions.dtype) * positions).argmax(dim=1)  # (B,)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, H)


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Average of the hidden states where the mask is 1. (B, T, H), (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * mask).sum(dim=1)  # (B, H)
    counts = mask.sum(dim=1).clamp(min=1.0)  # (B, 1); clamp: an all-padding row gives 0, not NaN
    return summed / counts  # (B, H)


def pool(hidden: Tensor, attention_mask: Tensor, mode: str) -> Tensor:
    """Dispatch on ``mode`` in ``POOLING_MODES``: "last" (decoder LLMs) or "mean" (encoders)."""
    if mode == "last":
        return last_token_pool(hidden, attention_mask)
    if mode == "mean":
        return mean_pool(hidden, attention_mask)
    raise ValueError(f"unknown pooling mode {mode!r}; valid: {', '.join(POOLING_MODES)}")
