"""``--gradient-checkpointing auto``: checkpoint only where a step's activations would not fit.

Checkpointing trades memory for time: it keeps only each layer's input and recomputes the layer in
backward, about one more forward per step. On all-MiniLM-L6-v2 (batch 32, max length 256, CPU)
that nearly doubled a step (issue 18: about 18 s with it, 10 s without), for activations that fit
many times over; on a 7B decoder at batch 2048 nothing fits without it. So ``auto`` measures:

1. probe: one forward (train mode, gradients on, dropout RNG restored afterwards) of
   ``PROBE_SEQUENCES`` sequences of ``--max-length`` tokens, summing every tensor autograd saves
   for backward (parameters excluded): the model's real activation bytes per sequence, with its
   own attention implementation, dtype and LoRA layers;
2. scale to the sequences one forward holds: without GradCache every query and document of the
   process's slice (local batch x (2 + K), all counted at --max-length, an upper bound); with
   GradCache one chunk;
3. compare with the free memory after the model is loaded (CUDA: ``mem_get_info``; CPU:
   MemAvailable): on when the estimate exceeds ``SHARE`` of it, else off.

Activation memory grows linearly with the number of sequences, so the probe's extrapolation is
exact up to allocator overhead; the margin (half the free memory) leaves room for the backward's
own temporaries and the optimizer state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

PROBE_SEQUENCES = 2
SHARE = 0.5  # checkpoint when the activations would take more than this share of the free memory


def saved_activation_bytes(module: nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Bytes autograd keeps for backward when ``module`` embeds ``batch`` (parameters not counted)."""
    params = {p.data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(batch)
    return sum(seen.values())


def free_memory_bytes(device: torch.device) -> int:
    """Memory a step can still use: free CUDA memory, or the kernel's MemAvailable on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def probe_batch(token_id: int, max_length: int, device: torch.device) -> dict[str, torch.Tensor]:
    ids = torch.full((PROBE_SEQUENCES, max_length), token_id, dtype=torch.long, device=device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def estimate_step_bytes(encoder: nn.Module, token_id: int, max_length: int, sequences: int) -> int:
    """Activation bytes of one forward over ``sequences`` sequences of ``max_length`` tokens."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.train()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the probe's dropout draws leave the run's RNG alone
        per_probe = saved_activation_bytes(encoder, probe_batch(token_id, max_length, device))
    encoder.train(was_training)
    return per_probe * sequences // PROBE_SEQUENCES


def decide(
    mode: str,
    encoder: nn.Module,
    *,
    token_id: int,
    max_length: int,
    sequences: int,
    device: torch.device,
) -> tuple[bool, str]:
    """(checkpoint?, the reason in words) for ``--gradient-checkpointing mode``."""
    if mode in ("on", "off"):
        return mode == "on", f"--gradient-checkpointing {mode}"
    need = estimate_step_bytes(encoder, token_id, max_length, sequences)
    free = free_memory_bytes(device)
    on = need > SHARE * free
    gib = 2**30
    return on, (
        f"--gradient-checkpointing auto: {'on' if on else 'off'}, a forward's activations are about "
        f"{need / gib:.2f} GiB ({sequences} sequences x {max_length} tokens, measured on {PROBE_SEQUENCES}) "
        f"against {free / gib:.1f} GiB free ({'more' if on else 'less'} than {SHARE:.0%} of it)"
    )


def enable(backbone: nn.Module) -> None:
    """Non-reentrant checkpointing (reentrant breaks with frozen inputs and ZeRO-3) on a (peft) backbone."""
    backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
