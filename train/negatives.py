"""Which hard negatives a row brings to a step: ``--negatives-per-query K`` drawn from its own pool.

A row's candidates are its own ``negative`` followed by its ``mined_negatives`` (written by
``synth.mine``), with repeats and texts equal to the row's positive left out (a negative equal to
the positive would be a false negative). Each epoch the row brings K of them:

    negative "n1", mined ["n2", "n1", "pos", "n3"], positive "pos"
    -> candidates ("n1", "n2", "n3"); K=1 -> one of them, K=2 -> two of them, K>=3 -> all three

The draw is a ``random.Random`` seeded by (seed, epoch, row), so it is the same in every process
and after ``--resume``; ``row`` is :func:`row_id`, a digest of the row's texts rather than its index, so
a row draws the same negatives when other rows are added to or removed from the data. A row with fewer than K candidates brings all it has, never a text twice: a
repeated text would count twice in the softmax denominator. The loss needs no mask for that, since
every hard negative of the global batch is a candidate for every query anyway. The sampler then
embeds a drawn text that the batch already holds (another row's positive or negative) only once
(:meth:`train.sampler.NoDuplicateBatchSampler.negatives`): it stays a candidate for the query that
drew it. With K=1 and no mined column a row brings exactly its own negative, if any (no randomness).
"""

from __future__ import annotations

import hashlib
import logging
import random
from typing import Protocol

log = logging.getLogger(__name__)


class HasNegatives(Protocol):
    positive: str
    negative: str | None
    mined_negatives: tuple[str, ...]


class HasTexts(Protocol):
    instruction: str
    query: str
    positive: str


def row_id(example: HasTexts) -> str:
    """A row's identity for seeded choices (its draw, its place in the order): a digest of its texts.

    An index would tie every choice to the rows around it: one row added at the front, or a different
    number of rows, and every row draws anew."""
    texts = "\0".join((example.instruction, example.query, example.positive))
    return hashlib.blake2b(texts.encode(), digest_size=16).hexdigest()


def candidates(example: HasNegatives) -> tuple[str, ...]:
    """The row's own negative, then its mined ones; deduplicated, without the positive."""
    own = (example.negative,) if example.negative is not None else ()
    seen = {example.positive}
    out = []
    for text in (*own, *example.mined_negatives):
        if text not in seen:
            seen.add(text)
            out.append(text)
    return tuple(out)


def draw_negatives(example: HasNegatives, k: int, seed: int, epoch: int, row: str) -> tuple[str, ...]:
    """K (or all, when fewer) of the row's candidates for this epoch; deterministic per (seed, epoch, row),
    ``row`` being :func:`row_id` of the example."""
    pool = candidates(example)
    if len(pool) <= k:
        return pool
    # A string seed is hashed with SHA-512 by random.Random: the same draw in every process and run.
    return tuple(random.Random(f"{seed}:{epoch}:{row}").sample(pool, k))


def log_negatives(examples: list, k: int) -> None:
    """One line on what K gives on this data; a warning when K > 1 finds nothing to draw beyond one."""
    if k == 0:
        log.info("--negatives-per-query 0: in-batch negatives only, no hard negatives")
        return
    sizes = [len(candidates(e)) for e in examples]
    short = sum(1 for n in sizes if n < k)
    mean = sum(min(n, k) for n in sizes) / len(sizes)
    log.info(
        "--negatives-per-query %d: %.2f hard negatives per row on average; %d of %d rows have fewer than %d candidates",
        k,
        mean,
        short,
        len(sizes),
        k,
    )
    if k > 1 and max(sizes, default=0) <= 1:
        log.warning(
            "--negatives-per-query %d, but no row has more than one candidate (no mined_negatives column?): "
            "each row brings at most its own negative; run synth.mine to add mined negatives",
            k,
        )
