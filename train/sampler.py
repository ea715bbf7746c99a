"""Global batches with no repeated query or positive, deterministic per (seed, epoch), resumable.

A positive that appears twice in one batch becomes a false negative for its own query, and so does
a repeated query (the other row's positive is an answer too), so the sampler packs batches greedily
from a seeded shuffle and defers a row to a later batch when its query or positive is already taken:

    rows (q, pos): 0:(a, X) 1:(b, X) 2:(c, Y) 3:(d, Z), batch_size 2, order [0, 1, 2, 3]
    -> [0, 2] (row 1 deferred: X taken), [1, 3]

Queries are compared as the model sees them (in ``plain`` format two instructions with the same
query collide). Hard negatives do not defer rows: :meth:`NoDuplicateBatchSampler.negatives` gives
each row its draw (:func:`train.negatives.draw_negatives`) minus the batch's positives and minus
texts an earlier row of the batch already brings. Mined negatives are often other rows' positives;
such a text is embedded once, as that row's positive, and stays a negative for every other query,
the row that drew it included. So every text is a candidate exactly once and no query ever meets a
copy of its own positive, in one process or gathered from many.

The order is a seeded sort by a digest of each row's texts (:func:`seeded_order`), not a shuffle
of row indices: a shuffle of ``range(n)`` is a wholly new order for ``n + 1`` rows, so 20 LLM rows
added to 5,200 weak pairs would train the weak pairs in another order too, and the two runs would
differ by a new draw of the order as well as by the 20 rows. Sorted by digest, an added row takes its
place and every other row keeps its order (batches after it shift by one place); each row's draw of
negatives is keyed by the same digest. A checkpoint written before this order (its state has no
``order``) resumes in the order it started with: a shuffle of indices, draws keyed by index.

Batches are GLOBAL: each process takes its contiguous slice, so gathering embeddings in rank order
rebuilds exactly the global batch. A final incomplete batch is dropped (it would change the number
of negatives and cannot be split evenly across processes). The sampler's state is (epoch, batches
done in that epoch); restoring it replays the same remaining batches and the same negatives.

With ``lengths`` (``--group-by-length``, :mod:`train.length_groups`) the rows are packed from a
length-sorted order within mega-batches and the batches come in a seeded shuffled order; the
no-duplicates rule, the determinism and the resume state are the same.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence

from train.data import Example
from train.inputs import query_text
from train.length_groups import group_order, order_batches
from train.negatives import draw_negatives, row_id


def _texts(ex: Example, query_format: str = "instruct") -> tuple[str, str]:
    # Queries and documents are separate pools ("Q"/"D"): a query equal to a document is no clash.
    return "Q\0" + query_text(ex.instruction, ex.query, query_format), "D\0" + ex.positive


def _greedy(
    pending: list[int], keys_of: Callable[[int], tuple[str, ...]], limit: int
) -> tuple[list[int], list[int]]:
    """One batch of up to ``limit`` rows with pairwise distinct texts, in ``pending`` order; (batch, deferred)."""
    batch, taken, deferred = [], set(), []
    for pos, i in enumerate(pending):
        keys = keys_of(i)
        if not taken.intersection(keys):
            batch.append(i)
            taken.update(keys)
            if len(batch) == limit:
                return batch, deferred + pending[pos + 1 :]
        else:
            deferred.append(i)
    return batch, deferred


def seeded_order(
    examples: Sequence, seed: int, ids: Sequence[str] | None = None, order: str = "digest"
) -> list[int]:
    """Row indices sorted by a digest of (seed, :func:`train.negatives.row_id`): random per seed, and
    stable under adding or removing rows (see the module doc); ``ids``: the rows' ids, when known.
    ``order="index"``: the shuffle of indices that older checkpoints were trained in."""
    if order == "index":
        shuffled = list(range(len(examples)))
        random.Random(seed).shuffle(shuffled)
        return shuffled
    ids = [row_id(e) for e in examples] if ids is None else ids
    keys = [hashlib.blake2b(f"{seed}\0{i}".encode(), digest_size=8).digest() for i in ids]
    return sorted(range(len(keys)), key=lambda r: (keys[r], r))  # equal rows: by index


def pack_batches(
    examples: list[Example],
    batch_size: int,
    seed: int,
    query_format: str = "instruct",
    lengths: Sequence | None = None,
    ids: Sequence[str] | None = None,
    order_kind: str = "digest",
) -> list[list[int]]:
    """One epoch's batches of row indices, each free of repeated queries and positives; with ``lengths``
    (a sort key per row) grouped by length (:mod:`train.length_groups`)."""
    order = seeded_order(examples, seed, ids, order_kind)
    if lengths is not None:
        order = group_order(order, lengths, batch_size)
    batches: list[list[int]] = []
    pending = order
    while len(pending) >= batch_size:
        batch, pending = _greedy(pending, lambda i: _texts(examples[i], query_format), batch_size)
        if len(batch) < batch_size:
            break  # the rest only repeats texts already in the batch being built: drop it
        batches.append(batch)
    return batches if lengths is None else order_batches(batches, lengths, seed)


class NoDuplicateBatchSampler:
    """Iterates global batches over ``epochs`` passes; ``state_dict``/``load_state_dict`` for resume.

    ``negatives_per_query`` K: the hard negatives each row brings per epoch (:mod:`train.negatives`);
    :meth:`negatives` tells the collator which ones, for the batch just yielded.
    """

    def __init__(
        self,
        examples: list[Example],
        batch_size: int,
        seed: int,
        negatives_per_query: int = 1,
        query_format: str = "instruct",
        lengths: Sequence | None = None,
    ) -> None:
        self.examples, self.batch_size, self.seed = examples, batch_size, seed
        self.lengths = lengths  # --group-by-length: a sort key per row (train.length_groups)
        self.k, self.query_format = negatives_per_query, query_format
        self.epoch, self.done = 0, 0  # position: batches already yielded in self.epoch
        self._order("digest")

    def _order(self, kind: str) -> None:
        """Order the rows and key their draws by ``kind``: "digest", or "index" (checkpoints written
        before "digest", resume only)."""
        self.order_kind = kind
        self._cache: dict[int, list[list[int]]] = {}
        if kind == "digest":
            self.ids = [row_id(e) for e in self.examples]
        else:  # the draws of older checkpoints: seeded by the row's index
            self.ids = [str(i) for i in range(len(self.examples))]

    def negatives(self, batch: list[int], epoch: int | None = None) -> list[tuple[str, ...]]:
        """Per row of the GLOBAL ``batch``, the hard negatives it brings to the step (see the module doc).

        ``epoch``: the epoch of the draw; default the epoch of the batch last yielded.
        """
        epoch = self.epoch if epoch is None else epoch
        taken = {self.examples[i].positive for i in batch}
        out = []
        for i in batch:
            mine = []
            for text in draw_negatives(self.examples[i], self.k, self.seed, epoch, self.ids[i]):
                if text not in taken:
                    taken.add(text)
                    mine.append(text)
            out.append(tuple(mine))
        return out

    def own_candidates(
        self, batch: list[int], negatives: list[tuple[str, ...]], epoch: int | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Per row of the GLOBAL ``batch``: its own candidates (its positive, then every negative it
        drew, in draw order) as indices into the step's documents, and their teacher scores.

        The documents are laid out as the gathered ones are: the batch's positives, then
        ``negatives`` (what :meth:`negatives` gave) row by row. A drawn text the step embeds only
        once (another row's positive, an earlier row's negative) points at that one copy:

            positives [P0, P1], negatives [(N0,), ()], row 1 drew (N0, P0) -> row 1: [1, 2, 0]
        """
        epoch = self.epoch if epoch is None else epoch
        where: dict[str, int] = {}
        for j, i in enumerate(batch):
            where.setdefault(self.examples[i].positive, j)
        position = len(batch)
        for texts in negatives:
            for text in texts:
                where.setdefault(text, position)
                position += 1
        own, scores = [], []
        for i in batch:
            ex = self.examples[i]
            texts = [ex.positive, *draw_negatives(ex, self.k, self.seed, epoch, self.ids[i])]
            own.append([where[t] for t in texts])
            teacher = ex.teacher or {}
            scores.append([teacher[t] for t in texts] if ex.teacher is not None else [0.0] * len(texts))
        return own, scores

    def batches(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            self._cache = {
                epoch: pack_batches(
                    self.examples,
                    self.batch_size,
                    self.seed + epoch,
                    self.query_format,
                    self.lengths,
                    self.ids,
                    self.order_kind,
                )
            }
        return self._cache[epoch]

    def largest_batch(self) -> int:
        """How many rows of epoch 0 fit one batch without repeated texts (for the error when none fills)."""
        order = seeded_order(self.examples, self.seed, self.ids, self.order_kind)
        batch, _ = _greedy(order, lambda i: _texts(self.examples[i], self.query_format), len(order))
        return len(batch)

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
        return {
            "epoch": self.epoch,
            "done": self.done,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "negatives_per_query": self.k,
            "group_by_length": self.lengths is not None,
            "order": self.order_kind,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        # Checkpoints written before --negatives-per-query existed used one negative per row.
        theirs = (
            state["seed"],
            state["batch_size"],
            state.get("negatives_per_query", 1),
            state.get("group_by_length", False),
        )
        if theirs != (self.seed, self.batch_size, self.k, self.lengths is not None):
            raise ValueError(
                f"checkpoint was written with seed={theirs[0]} batch_size={theirs[1]} negatives_per_query={theirs[2]} "
                f"group_by_length={theirs[3]}, this run has seed={self.seed} batch_size={self.batch_size} "
                f"negatives_per_query={self.k} group_by_length={self.lengths is not None}; resume with the same flags"
            )
        self._order(state.get("order", "index"))  # a checkpoint from before "order": indices
        self.epoch, self.done = state["epoch"], state["done"]
