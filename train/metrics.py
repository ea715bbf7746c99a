"""Training metrics: one JSON line per logged step in OUTPUT/metrics.jsonl, mirrored to TensorBoard.

Only rank 0 writes. Each line holds ``step``, ``loss`` (global mean over processes), ``lr``,
``tokens_per_s`` (real tokens of all processes per second of that step), ``documents`` (positives
plus hard negatives embedded in the global batch, at most B * (1 + K)) and ``memory_gb`` (peak CUDA
memory, or the process's peak RSS on CPU).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from train.distributed import world

log = logging.getLogger(__name__)


def peak_memory_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**30 if sys.platform == "darwin" else 2**20)


class MetricsLog:
    def __init__(self, output: Path, resume: bool) -> None:
        self.rank = world()[0]
        self.path = output / "metrics.jsonl"
        self.writer = None
        if self.rank != 0:
            return
        output.mkdir(parents=True, exist_ok=True)
        if not resume:
            self.path.unlink(missing_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(output / "runs"))
        except ImportError:  # tensorboard is in the train extra, but the JSONL log is what we promise
            log.warning("tensorboard not installed; metrics go to %s only", self.path)

    def write(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, int | float):
                    self.writer.add_scalar(f"train/{k}", v, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def truncate_after(self, step: int) -> None:
        """On resume: drop lines the interrupted run wrote after the checkpoint it resumes from."""
        if self.rank != 0 or not self.path.exists():
            return
        lines = [
            ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step
        ]
        self.path.write_text("".join(ln + "\n" for ln in lines))
