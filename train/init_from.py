"""``--init-from DIR``: start a training stage from an earlier stage's output.

Two kinds of DIR, told apart by their files:

* a model dir (train.lora's export, ``synthembed.json`` at its root): the new stage loads its MERGED
  weights as the base and trains a fresh LoRA on them; the new export merges that adapter onto the
  same weights, and its ``adapter/`` applies to DIR (recorded as the base). This is what mE5/GTE's
  stages are: each stage starts from the previous stage's model, and a later stage's update is not
  limited to the rank of the earlier one. Pooling, normalisation and the query format must be the
  ones DIR was trained with (they define what its embeddings mean).
* a checkpoint dir (``OUTPUT/checkpoints/step-N``: ``adapter.safetensors`` + ``train_config.json``):
  the same LoRA adapter continues on that run's ``--model`` (the LoRA shape flags must match), with
  a new optimizer, schedule, data and step count. Unlike ``--resume``, nothing else is restored.

The chosen base replaces ``--model``; ``training.init_from`` in the new model dir records DIR, its
kind and the stage before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.errors import ConfigError

SPEC = "synthembed.json"
ADAPTER = "adapter.safetensors"
TRAIN_CONFIG = "train_config.json"
MUST_MATCH = ("pooling", "normalize", "query_format")  # what an embedding means
LORA_SHAPE = ("lora_r", "lora_alpha", "lora_target")  # what the adapter's tensors are


@dataclass(frozen=True)
class InitFrom:
    path: Path
    kind: str  # "model dir" or "checkpoint"
    base: str  # what to load as the backbone (DIR, or the checkpoint's --model)
    previous: dict[str, Any]  # the earlier stage's recorded training (its flags and summary)

    def record(self) -> dict[str, Any]:
        keep = ("model", "data", "loss", "steps", "batch_size", "final_loss", "init_from")
        return {"dir": str(self.path), "kind": self.kind, "previous": {k: self.previous.get(k) for k in keep}}


def _json(path: Path, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{flag}: cannot read {path} ({e})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}: {path} is not a JSON object")
    return value


def resolve(cfg) -> InitFrom:
    """What ``cfg.init_from`` is, checked against the flags; ConfigError (one line) otherwise."""
    path = Path(cfg.init_from)
    flag = f"--init-from {path}"
    if not path.is_dir():
        raise ConfigError(f"{flag}: no such directory")
    if (path / SPEC).is_file():
        meta = _json(path / SPEC, flag)
        theirs = {
            "pooling": meta.get("pooling"),
            "normalize": meta.get("normalize"),
            "query_format": meta.get("query_format"),
        }
        kind, base, previous = "model dir", str(path), dict(meta.get("training") or {})
    elif (path / ADAPTER).is_file() and (path / TRAIN_CONFIG).is_file():
        previous = _json(path / TRAIN_CONFIG, flag)
        theirs = {k: previous.get(k) for k in MUST_MATCH}
        for key in LORA_SHAPE:
            if previous.get(key) != getattr(cfg, key):
                raise ConfigError(
                    f"{flag}: the checkpoint's adapter has --{key.replace('_', '-')} {previous.get(key)}, this run "
                    f"{getattr(cfg, key)}; pass the same LoRA shape to continue it"
                )
        kind, base = "checkpoint", str(previous.get("model"))
    else:
        raise ConfigError(
            f"{flag}: neither a train.lora model dir ({SPEC}) nor a checkpoint ({ADAPTER} + {TRAIN_CONFIG})"
        )
    for key in MUST_MATCH:
        if theirs[key] is not None and theirs[key] != getattr(cfg, key):
            raise ConfigError(
                f"{flag}: it was trained with --{key.replace('_', '-')} {theirs[key]}, this run has "
                f"{getattr(cfg, key)}; a stage must embed as the one before it"
            )
    return InitFrom(path, kind, base, previous)


def load_adapter(encoder, init: InitFrom) -> None:
    """Checkpoint kind: copy its LoRA tensors into ``encoder`` (names as train.checkpoint saves them)."""
    if init.kind != "checkpoint":
        return
    import torch
    from safetensors.torch import load_file

    state = load_file(str(init.path / ADAPTER))
    params = dict(encoder.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    missing, extra = trainable - state.keys(), state.keys() - params.keys()
    if missing or extra:
        example = sorted(missing or extra)[0]
        raise ConfigError(
            f"--init-from {init.path}: its adapter does not fit this model ({len(missing)} tensors missing, "
            f"{len(extra)} unknown, e.g. {example})"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)
