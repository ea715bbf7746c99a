"""Length-sorted, token-budgeted batches cover every input once and keep padding small."""

from __future__ import annotations

import random

import numpy as np

from eval.batching import plan_batches


def test_worked_example():
    got = plan_batches([5, 100, 7, 90, 6], batch_size=4, max_tokens=200)
    assert [b.tolist() for b in got] == [[1, 3], [2, 4, 0]]


def test_every_input_once_within_budget_and_size():
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(500)]
    for batch_size, budget in [(32, 2048), (8, None), (64, 100)]:
        batches = plan_batches(lengths, batch_size, budget)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(500))
        assert all(len(b) <= batch_size for b in batches)
        if budget is not None:  # a single over-long text is the only way past the budget
            assert all(len(b) * max(lengths[i] for i in b) <= budget or len(b) == 1 for b in batches)


def test_sorting_cuts_padding():
    rng = random.Random(1)
    lengths = [int(rng.paretovariate(1.2) * 10) for _ in range(400)]

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    unsorted = padded(plan_batches(lengths, 32, sort=False))
    fixed = padded(plan_batches(lengths, 32))
    budget = padded(plan_batches(lengths, 32, max_tokens=512))
    assert budget <= fixed < unsorted


def test_unsorted_keeps_input_order():
    assert [b.tolist() for b in plan_batches([3, 1, 2], 2, max_tokens=1, sort=False)] == [[0, 1], [2]]
