"""Global contrastive batches with no repeated text, deterministic per (seed, epoch), resumable.

A text that appears twice in one batch becomes a false negative for itself (two rows with the same
positive, or one row's negative equal to another's positive), so the sampler packs batches greedily
from a seeded shuffle and defers a row to a later batch when any of its texts is already taken:

    rows (q, pos): 0:(a, X) 1:(b, X) 2:(c, Y) 3:(d, Z), batch_size 2, order [0, 1, 2, 3]
    -> [0, 2] (row 1 deferred: X taken), [1, 3]

Batches are GLOBAL: each process takes its contiguous slice, so gathering embeddings in rank order
rebuilds exactly the global batch. A final incomplete batch is dropped (it would change the number
of negatives and cannot be split evenly across processes). The sampler's state is (epoch, batches
done in that epoch); restoring it replays the same remaining batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from train.data import Example


def _texts(ex: Example) -> tuple[str, ...]:
    # Queries carry their instruction; documents are compared as plain text (they share one pool).
    docs = (ex.positive,) if ex.negative is None else (ex.positive, ex.negative)
    return ("Q\0" + ex.instruction + "\0" + ex.query, *("D\0" + d for d in docs))


def pack_batches(examples: list[Example], batch_size: int, seed: int) -> list[list[int]]:
    """One epoch's batches of row indices, each free of repeated texts."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    batches: list[list[int]] = []
    pending = order
    while len(pending) >= batch_size:
        batch, taken, deferred = [], set(), []
        for pos, i in enumerate(pending):
            keys = _texts(examples[i])
            if len(batch) < batch_size and not taken.intersection(keys) and len(set(keys)) == len(keys):
                batch.append(i)
                taken.update(keys)
            else:
                deferred.append(i)
            if len(batch) == batch_size:
                deferred += pending[pos + 1 :]
                break
        if len(batch) < batch_size:
            break  # the rest only repeats texts already in the batch being built: drop it
        batches.append(batch)
        pending = deferred
    return batches


class NoDuplicateBatchSampler:
    """Iterates global batches over ``epochs`` passes; ``state_dict``/``load_state_dict`` for resume."""

    def __init__(self, examples: list[Example], batch_size: int, seed: int) -> None:
        self.examples, self.batch_size, self.seed = examples, batch_size, seed
        self.epoch, self.done = 0, 0  # position: batches already yielded in self.epoch
        self._cache: dict[int, list[list[int]]] = {}

    def batches(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            self._cache = {epoch: pack_batches(self.examples, self.batch_size, self.seed + epoch)}
        return self._cache[epoch]

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            batches = self.batches(self.epoch)
            if not batches:
                return
            while self.done < len(batches):
                self.done += 1
                yield batches[self.done - 1]
            self.epoch, self.done = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "done": self.done, "seed": self.seed, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if (state["seed"], state["batch_size"]) != (self.seed, self.batch_size):
            raise ValueError(
                f"checkpoint was written with seed={state['seed']} batch_size={state['batch_size']}, "
                f"this run has seed={self.seed} batch_size={self.batch_size}; resume with the same flags"
            )
        self.epoch, self.done = state["epoch"], state["done"]
