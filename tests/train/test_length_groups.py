"""--group-by-length: less padding, the same no-duplicates rule, seeded, resumable."""

from __future__ import annotations

import random

import pytest

from train.data import Example
from train.length_groups import group_order, order_batches, padding_share
from train.sampler import NoDuplicateBatchSampler


def rows(n: int, seed: int = 0) -> tuple[list[Example], list[int]]:
    rng = random.Random(seed)
    out, lengths = [], []
    for i in range(n):
        size = rng.choice([3, 5, 40, 60, 120])
        # every 7th row repeats an earlier positive: the sampler must keep the copies apart
        pos = f"p{i - 7 if i % 7 == 6 else i} " + "x " * size
        out.append(Example(instruction="", query=f"q{i % 50}", positive=pos, negative=None))
        lengths.append(size + 2)
    return out, lengths


def test_padding_share_worked_examples():
    assert padding_share([[3, 1], [2, 2]]) == pytest.approx(0.2)
    grouped = [[91, 90], [88, 7], [6, 5]]
    mixed = [[5, 90], [7, 88], [6, 91]]
    assert padding_share(grouped) == pytest.approx(1 - 287 / 370)
    assert padding_share(mixed) == pytest.approx(1 - 287 / 538)


def test_group_order_sorts_within_mega_batches_and_the_longest_batch_comes_first():
    keys = [5, 90, 7, 88, 6, 91]
    assert group_order([0, 1, 2, 3, 4, 5], keys, 2) == [5, 1, 3, 2, 4, 0]
    batches = order_batches([[5, 1], [3, 2], [4, 0]], keys, seed=3)
    assert batches[0] == [5, 1] and sorted(map(tuple, batches)) == [(3, 2), (4, 0), (5, 1)]


def test_grouped_batches_keep_the_rules_and_pad_less():
    examples, lengths = rows(400)
    plain = NoDuplicateBatchSampler(examples, 16, seed=1)
    grouped = NoDuplicateBatchSampler(examples, 16, seed=1, lengths=lengths)
    again = NoDuplicateBatchSampler(examples, 16, seed=1, lengths=lengths)
    other = NoDuplicateBatchSampler(examples, 16, seed=2, lengths=lengths)
    for epoch in (0, 1):
        batches = grouped.batches(epoch)
        assert batches == again.batches(epoch) and batches != other.batches(epoch)  # seeded
        for b in batches:
            assert len(b) == 16
            assert len({examples[i].positive for i in b}) == 16 and len({examples[i].query for i in b}) == 16
        flat = [i for b in batches for i in b]
        assert len(flat) == len(set(flat))  # no row twice in an epoch
        assert len(batches) >= len(plain.batches(epoch)) - 1  # grouping costs at most a batch of rows

    def share(sampler):
        return padding_share([[lengths[i] for i in b] for b in sampler.batches(0)])

    assert share(grouped) < 0.5 * share(plain)


def test_grouped_sampler_resumes_and_refuses_another_grouping():
    examples, lengths = rows(200)
    full = NoDuplicateBatchSampler(examples, 8, seed=0, lengths=lengths)
    it = iter(full)
    seen = [next(it) for _ in range(40)]  # past the end of epoch 0
    cut = NoDuplicateBatchSampler(examples, 8, seed=0, lengths=lengths)
    it = iter(cut)
    for _ in range(30):
        next(it)
    state = cut.state_dict()
    assert state["group_by_length"] is True
    resumed = NoDuplicateBatchSampler(examples, 8, seed=0, lengths=lengths)
    resumed.load_state_dict(state)
    it = iter(resumed)
    assert [next(it) for _ in range(10)] == seen[30:]
    with pytest.raises(ValueError, match="group_by_length=True"):
        NoDuplicateBatchSampler(examples, 8, seed=0).load_state_dict(state)
