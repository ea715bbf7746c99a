"""The ``--heads`` files beside an exported model dir, in FlagEmbedding's BGE-M3 layout, and their loader.

    OUTPUT/
      sparse_linear.pt      torch state dict of nn.Linear(H, 1):  {"weight": (1, H), "bias": (1,)}
      colbert_linear.pt     torch state dict of nn.Linear(H, H):  {"weight": (H, H), "bias": (H,)}
      synthembed.json       "heads": {"format_version": 1, "heads": [...], "vocab_size", "sparse_excluded_ids",
                             "colbert_skip_first", "score_weights": {dense, sparse, colbert}}

These are the files and tensor names FlagEmbedding's ``BGEM3FlagModel`` loads beside the model
(float32, CPU), so an encoder backbone trained here is read by its M3 loader as BAAI/bge-m3 is; the
dense part stays a sentence-transformers model. The same layout is written for decoder backbones
(FlagEmbedding's M3 loader is for encoders, ours reads both). ``load_heads`` also reads a dir
without our "heads" entry, e.g. BAAI/bge-m3 itself, with M3's own rules (CLS left out of the
multi-vectors; CLS, EOS, pad and unk out of the lexical weights).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from train.heads import Heads
from train.inputs import leading_special

HEADS_FORMAT = 1
FILES = {"sparse": "sparse_linear.pt", "colbert": "colbert_linear.pt"}
META_FILE = "synthembed.json"


def build_heads(model, tokenizer, heads: Sequence[str]) -> Heads:
    """Fresh heads for ``model`` (hidden size, vocabulary) and the tokenizer training uses."""
    vocab = max(int(model.config.vocab_size), len(tokenizer))
    return Heads(
        model.config.hidden_size, heads, vocab, tokenizer.all_special_ids, bool(leading_special(tokenizer))
    )


def split_state(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The trainable tensors of a MultiHeadEncoder -> (backbone's LoRA tensors, the heads' tensors)."""
    heads = {k: v for k, v in state.items() if k.startswith("heads.")}
    return {k: v for k, v in state.items() if k not in heads}, heads


def save_heads(
    output: Path, heads: Heads, state: Mapping[str, Tensor], score_weights: Sequence[float]
) -> None:
    """Write the heads' files and record them in ``OUTPUT/synthembed.json`` (written by the export before)."""
    for head, file in FILES.items():
        prefix = f"heads.{head}_linear."
        sub = {
            k.removeprefix(prefix): v.detach().float().cpu().contiguous()
            for k, v in state.items()
            if k.startswith(prefix)
        }
        if head in heads.heads:
            assert set(sub) == {"weight", "bias"}, f"{head} head: expected weight and bias, got {sorted(sub)}"
            torch.save(sub, output / file)
    meta_path = output / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["heads"] = {
        "format_version": HEADS_FORMAT,
        "heads": list(heads.heads),
        "vocab_size": heads.vocab_size,
        "sparse_excluded_ids": heads.excluded_ids.tolist(),
        "colbert_skip_first": heads.skip_first,
        "score_weights": dict(zip(("dense", "sparse", "colbert"), score_weights, strict=True)),
        "files": {h: FILES[h] for h in heads.heads if h in FILES},
    }
    meta_path.write_text(json.dumps(meta, indent=2))


def heads_info(model_dir: Path, tokenizer=None, config=None) -> dict[str, Any] | None:
    """What the dir holds: our "heads" entry, or M3's rules for a dir with only the .pt files; None if neither."""
    meta_path = Path(model_dir) / META_FILE
    if meta_path.exists() and "heads" in (meta := json.loads(meta_path.read_text())):
        info = meta["heads"]
        if info.get("format_version") != HEADS_FORMAT:
            raise ValueError(
                f"{meta_path}: heads format_version {info.get('format_version')}, expected {HEADS_FORMAT}"
            )
        return info
    present = [h for h, f in FILES.items() if (Path(model_dir) / f).exists()]
    if not present or tokenizer is None or config is None:
        return None
    specials = [
        tokenizer.cls_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
    ]
    return {
        "format_version": HEADS_FORMAT,
        "heads": ["dense", *present],
        "vocab_size": max(int(config.vocab_size), len(tokenizer)),
        "sparse_excluded_ids": sorted({i for i in specials if i is not None}),
        "colbert_skip_first": True,
        "score_weights": {"dense": 1.0, "sparse": 0.3, "colbert": 1.0},
    }


def load_heads(model_dir: Path, info: Mapping[str, Any], hidden: int) -> Heads:
    """The trained heads of ``model_dir`` as :func:`heads_info` describes them, on the CPU, in eval mode."""
    heads = Heads(
        hidden, info["heads"], info["vocab_size"], info["sparse_excluded_ids"], info["colbert_skip_first"]
    )
    for head in info["heads"]:
        if head == "dense":
            continue
        path = Path(model_dir) / FILES[head]
        if not path.exists():
            raise ValueError(f"{model_dir}: records a {head} head but has no {FILES[head]}")
        getattr(heads, f"{head}_linear").load_state_dict(
            torch.load(path, map_location="cpu", weights_only=True)
        )
    return heads.eval()
