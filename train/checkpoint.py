"""Checkpoints: where they live, what they hold, and the gathered LoRA adapter.

    OUTPUT/checkpoints/step-0000200/
        engine.pt | DeepSpeed files   trainable (LoRA) weights, optimizer, scheduler, trainer state
        adapter.safetensors           the LoRA tensors, gathered from all shards and checked non-empty
        rng-rank{r}.pt                python / numpy / torch (/ CUDA) RNG of each process
        train_config.json             the flags of the run, beside the weights
        DONE                          written last: a checkpoint without it was interrupted mid-save

``--resume`` takes the newest checkpoint with DONE. Under ZeRO-3 each process holds only a shard
of every parameter (``p.numel() == 0`` outside a gather), which is how peers end up saving EMPTY
LoRA adapters; ``adapter_state`` gathers the shards first and refuses an empty result.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from train.config import existing_checkpoints_error
from train.distributed import world
from train.errors import ConfigError

log = logging.getLogger(__name__)


def checkpoint_dir(output: Path, step: int) -> Path:
    return output / "checkpoints" / f"step-{step:07d}"


def latest_checkpoint(output: Path) -> Path | None:
    done = sorted(p.parent for p in (output / "checkpoints").glob("step-*/DONE"))
    return done[-1] if done else None


def resume_point(output: Path, resume: bool) -> Path | None:
    """The checkpoint the run continues from (None: step 0), the same on every rank. Collective.

    Each rank looks at OUTPUT as its own node sees it. On storage every node shares, all agree.
    On node-local disks they do not (rank 0 alone writes DONE, so other nodes never see a finished
    checkpoint): resuming on some ranks only would hang the first collective or train mismatched
    replicas, so every rank raises the same one-line ConfigError instead. Without ``resume``, a
    checkpoint seen by any rank is refused, as ``preflight`` refuses it for one process.
    """
    mine = latest_checkpoint(output)
    views = _gather_object(mine.name if mine is not None else None)  # per rank: newest finished step
    if not resume:
        seen = [(r, v) for r, v in enumerate(views) if v is not None]
        if seen:
            where = f" on rank {seen[0][0]}'s node" if len(views) > 1 else ""
            raise ConfigError(existing_checkpoints_error(output, f"{max(v for _, v in seen)}{where}"))
        return None
    if len(set(views)) > 1:
        r = next(r for r, v in enumerate(views) if v != views[0])
        raise ConfigError(
            f"--resume: rank 0 sees checkpoint {views[0] or 'none'} in --output {output} but rank {r} sees "
            f"{views[r] or 'none'}: with several nodes, --output must be on storage they all share "
            "(or copy OUTPUT/checkpoints to every node before resuming)"
        )
    if views[0] is None:
        if world()[0] == 0:
            log.warning("--resume: no finished checkpoint in %s/checkpoints; starting from step 0", output)
        return None
    return output / "checkpoints" / views[0]


def _gather_object(x: Any) -> list[Any]:
    _, size = world()
    if size == 1:
        return [x]
    out: list[Any] = [None] * size
    dist.all_gather_object(out, x)
    return out


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def save_checkpoint(
    engine, output: Path, step: int, client_state: dict[str, Any], config: dict[str, Any]
) -> Path:
    """Collective: call on every rank. Returns the checkpoint dir."""
    rank, _ = world()
    path = checkpoint_dir(output, step)
    path.mkdir(parents=True, exist_ok=True)
    engine.save(path, client_state)
    adapter = adapter_state(engine.encoder)  # collective under ZeRO-3; raises on an empty adapter
    if rank == 0:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in adapter.items()}, str(path / "adapter.safetensors"))
    torch.save(rng_state(), path / f"rng-rank{rank}.pt")
    _barrier()
    if rank == 0:
        (path / "train_config.json").write_text(json.dumps(config, indent=2))
        (path / "DONE").write_text(str(step))
    _barrier()
    log.info("checkpoint %s", path)
    return path


def load_checkpoint(engine, path: Path) -> dict[str, Any]:
    """Restore engine state and this rank's RNG; returns the trainer's client state."""
    rank, _ = world()
    client = engine.load(path)
    rng = path / f"rng-rank{rank}.pt"
    if rng.exists():
        set_rng_state(torch.load(rng, weights_only=False))
    else:  # e.g. resumed on more processes than saved: data order is still exact, dropout is not
        log.warning(
            "%s: no RNG state for rank %d; dropout masks will differ from the interrupted run", path, rank
        )
    return client


def adapter_state(model: nn.Module) -> dict[str, Tensor]:
    """Full (gathered) copies of the trainable parameters on CPU, keyed by name. Collective under ZeRO-3."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if any(hasattr(p, "ds_id") for _, p in named):  # ZeRO-3 partitioned parameters
        import deepspeed

        with deepspeed.zero.GatheredParameters([p for _, p in named], modifier_rank=None):
            state = {n: p.detach().cpu().clone() for n, p in named}
    else:
        state = {n: p.detach().cpu().clone() for n, p in named}
    check_adapter(state)
    return state


def check_adapter(state: dict[str, Tensor]) -> None:
    """Refuse an adapter that is empty (ungathered ZeRO-3 shards) or all zeros."""
    if not state:
        raise RuntimeError("no trainable parameters to save: is LoRA applied?")
    empty = [n for n, t in state.items() if t.numel() == 0]
    if empty:
        raise RuntimeError(
            f"adapter tensor {empty[0]} is empty ({len(empty)} in all): ZeRO-3 shards were not gathered"
        )
    if all(not t.any() for t in state.values()):
        raise RuntimeError("every adapter tensor is zero: refusing to save an untrained/garbage adapter")
