from __future__ import annotations

from tests.train.conftest import make_rows
from train.data import Example
from train.sampler import NoDuplicateBatchSampler, pack_batches


def ex(q: str, pos: str, neg: str | None = None) -> Example:
    return Example(instruction="i", query=q, positive=pos, negative=neg)


def test_worked_example_defers_a_repeated_positive(monkeypatch):
    rows = [ex("a", "X"), ex("b", "X"), ex("c", "Y"), ex("d", "Z")]
    monkeypatch.setattr("random.Random.shuffle", lambda self, x: None)  # keep the docstring's order
    assert pack_batches(rows, 2, seed=0) == [[0, 2], [1, 3]]


def test_no_text_twice_in_a_batch_and_negative_counts_as_a_document():
    rows = [ex(f"q{i}", f"doc{i % 5}", f"doc{(i + 1) % 5}" if i % 3 == 0 else None) for i in range(40)]
    for batch in pack_batches(rows, 4, seed=1):
        docs = [t for i in batch for t in (rows[i].positive, rows[i].negative) if t is not None]
        assert len(docs) == len(set(docs)), batch


def test_deterministic_per_seed_and_epoch_and_resumable():
    from train.data import Example as E

    rows = [E(**{k: r[k] for k in ("instruction", "query", "positive", "negative")}) for r in make_rows(40)]
    a = NoDuplicateBatchSampler(rows, 8, seed=3)
    first = [b for _, b in zip(range(7), a, strict=False)]  # crosses into the second epoch (5 per epoch)
    assert first[:5] == pack_batches(rows, 8, 3) and first[5:] == pack_batches(rows, 8, 4)[:2]
    b = NoDuplicateBatchSampler(rows, 8, seed=3)
    it = iter(b)
    for _ in range(3):
        next(it)
    c = NoDuplicateBatchSampler(rows, 8, seed=3)
    c.load_state_dict(b.state_dict())
    assert [x for _, x in zip(range(4), c, strict=False)] == first[3:7]
