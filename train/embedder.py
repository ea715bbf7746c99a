"""What eval uses from train, named in one place: loading a backbone, tokenizing, pooling and
embedding the way training did, and the M3 heads. eval imports these from here only, so train's
other modules can change without eval noticing; everything here is re-exported, not defined.
"""

from __future__ import annotations

from train.backbone import choose_dtype, load_backbone, sep_as_eos
from train.errors import ConfigError
from train.heads import Heads
from train.heads_io import heads_info, load_heads
from train.inputs import tokenize
from train.m3_losses import colbert_scores
from train.modeling import embed, last_hidden_state
from train.pooling import POOLING_MODES, pool

__all__ = [
    "POOLING_MODES",
    "ConfigError",
    "Heads",
    "choose_dtype",
    "colbert_scores",
    "embed",
    "heads_info",
    "last_hidden_state",
    "load_backbone",
    "load_heads",
    "pool",
    "sep_as_eos",
    "tokenize",
]
