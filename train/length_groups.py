"""``--group-by-length``: rows of similar token length in the same global batch, and what padding costs.

A step pads each process's queries to its longest query and its documents to its longest document,
so one long passage makes every text of its slice that long. Grouping (as Hugging Face's
``LengthGroupedSampler`` does): shuffle with the seed, cut the order into mega-batches of
``GROUP`` batches, sort each mega-batch by length (longest first), pack batches from that order
with the sampler's usual no-duplicates rule, then shuffle the batches' order with the seed and put
the batch holding the longest row first (an out-of-memory shows at step 1, not hours in):

    lengths [5, 90, 7, 88, 6, 91], batch 2, one mega-batch -> batches {91, 90}, {88, 7}, {6, 5} (in some order,
    {91, 90} first); padded tokens 182 + 176 + 12 = 370 of 287 real -> share 1 - 287/370 = 22%
    against e.g. {5, 90}, {7, 88}, {6, 91}: 180 + 176 + 182 = 538 -> 47%

The key of a row is its positive's token count, then its query's (documents dominate the padding).
Not handled: packing several texts into one sequence (no padding at all, needs attention masks
across texts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

GROUP = 50  # batches per mega-batch: large enough to find similar lengths, small enough to stay random


def token_lengths(tokenizer, texts: Sequence[str], max_length: int, batch: int = 1024) -> list[int]:
    """Tokens each text takes in a batch: its tokens plus the BOS/[CLS] and EOS train.inputs adds, capped."""
    from train.inputs import leading_special

    extra = 1 + len(leading_special(tokenizer))
    out: list[int] = []
    for i in range(0, len(texts), batch):
        ids = tokenizer(list(texts[i : i + batch]), add_special_tokens=False)["input_ids"]
        out += [min(len(x) + extra, max_length) for x in ids]
    return out


def group_order(order: list[int], keys: Sequence, batch_size: int) -> list[int]:
    """``order`` with each run of GROUP * batch_size rows sorted by ``keys`` descending (stable)."""
    size = batch_size * GROUP
    out: list[int] = []
    for i in range(0, len(order), size):
        out += sorted(order[i : i + size], key=lambda r: keys[r], reverse=True)
    return out


def order_batches(batches: list[list[int]], keys: Sequence, seed: int) -> list[list[int]]:
    """Batches in a seeded random order, the one with the largest key first."""
    batches = list(batches)
    random.Random(f"{seed}:length-batches").shuffle(batches)
    if batches:
        top = max(range(len(batches)), key=lambda b: max(keys[r] for r in batches[b]))
        batches.insert(0, batches.pop(top))
    return batches


def padding_share(groups: Sequence[Sequence[int]]) -> float:
    """Share of padding among the tokens of padded batches, each a list of real lengths.

    [[3, 1], [2, 2]] -> padded 2 * 3 + 2 * 2 = 10, real 8 -> 0.2
    """
    padded = sum(len(g) * max(g) for g in groups if g)
    real = sum(sum(g) for g in groups)
    return 1 - real / padded if padded else 0.0


def epoch_padding(
    sampler, tokenizer, max_length: int, world_size: int = 1, epoch: int = 0
) -> dict[str, float]:
    """Padding share of one epoch's steps as the processes pad them: queries, documents, and both."""
    from train.inputs import query_text

    batches = sampler.batches(epoch)
    local = sampler.batch_size // world_size
    q_groups, d_groups = [], []
    for idx in batches:
        negatives = sampler.negatives(idx, epoch)
        for r in range(world_size):
            part = slice(r * local, (r + 1) * local)
            rows = [sampler.examples[i] for i in idx[part]]
            queries = [query_text(e.instruction, e.query, sampler.query_format) for e in rows]
            docs = [e.positive for e in rows] + [n for negs in negatives[part] for n in negs]
            q_groups.append(token_lengths(tokenizer, queries, max_length))
            d_groups.append(token_lengths(tokenizer, docs, max_length))
    return {
        "queries": padding_share(q_groups),
        "documents": padding_share(d_groups),
        "all": padding_share(q_groups + d_groups),
    }
