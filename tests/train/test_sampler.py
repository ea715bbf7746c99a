from __future__ import annotations

from tests.train.conftest import make_rows
from train.data import Example
from train.negatives import draw_negatives
from train.sampler import NoDuplicateBatchSampler, pack_batches


def ex(q: str, pos: str, neg: str | None = None) -> Example:
    return Example(instruction="i", query=q, positive=pos, negative=neg)


def test_worked_example_defers_a_repeated_positive(monkeypatch):
    rows = [ex("a", "X"), ex("b", "X"), ex("c", "Y"), ex("d", "Z")]
    monkeypatch.setattr(
        "train.sampler.seeded_order", lambda ex, seed, ids=None, order="digest": list(range(len(ex)))
    )
    assert pack_batches(rows, 2, seed=0) == [[0, 2], [1, 3]]


def test_no_text_twice_in_a_batch_and_a_negative_that_is_a_batch_positive_is_embedded_once():
    rows = [ex(f"q{i}", f"doc{i % 5}", f"doc{(i + 1) % 5}" if i % 3 == 0 else None) for i in range(40)]
    sampler = NoDuplicateBatchSampler(rows, 4, seed=1)
    batches = sampler.batches(0)
    assert len(batches) >= 8  # of at most 10: 40 rows, 5 distinct positives, negatives defer no row
    merged = 0
    for batch in batches:
        positives = [rows[i].positive for i in batch]
        negatives = sampler.negatives(batch, epoch=0)
        docs = positives + [n for negs in negatives for n in negs]
        assert len(docs) == len(set(docs)), batch  # every candidate once: no false negative, no double count
        for i, negs in zip(batch, negatives, strict=True):
            own = rows[i].negative
            assert negs == ((own,) if own and own not in positives else ())  # else: already a candidate
            merged += own is not None and own in positives
    assert merged > 0  # the case this test is about happened


def test_queries_repeat_in_plain_format_only_when_the_query_text_repeats():
    rows = [ex("same", "X"), ex("same", "Y")]
    rows[1] = Example(instruction="other", query="same", positive="Y", negative=None)
    assert pack_batches(rows, 2, seed=0) == [[1, 0]] or pack_batches(rows, 2, seed=0) == [[0, 1]]
    assert pack_batches(rows, 2, seed=0, query_format="plain") == []  # the model would see one query twice


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


def test_added_rows_leave_the_order_of_the_others_and_their_negatives_as_they_were():
    """20 LLM rows added to a run's weak pairs must not reshuffle the weak pairs: with a shuffle of
    range(n) the two runs would differ by a new draw of the order as well as by the added rows."""
    pool = tuple(f"n{j}" for j in range(30))
    rows = [Example("i", f"q{i}", f"p{i}", None, mined_negatives=pool) for i in range(300)]
    added = [Example("i", f"llm{i}", f"llm-p{i}", None, mined_negatives=pool) for i in range(20)]
    a = NoDuplicateBatchSampler(rows, 8, seed=0, negatives_per_query=2)
    b = NoDuplicateBatchSampler(added[:10] + rows + added[10:], 8, seed=0, negatives_per_query=2)
    flat_a = [rows[i].query for batch in a.batches(0) for i in batch]
    flat_b = [b.examples[i].query for batch in b.batches(0) for i in batch]
    kept = [q for q in flat_b if not q.startswith("llm")]
    assert len(flat_a) == 296 and kept[:296] == flat_a  # 300 rows: the last 4 fill no batch of 8
    assert 0 < sum(q.startswith("llm") for q in flat_b)  # they are in, each at its own place
    # each kept row draws the same hard negatives in both runs (keyed by its texts, not its index)
    draw_a = {rows[i].query: draw_negatives(rows[i], 2, 0, 0, a.ids[i]) for i in range(300)}
    draw_b = {e.query: draw_negatives(e, 2, 0, 0, b.ids[i]) for i, e in enumerate(b.examples)}
    assert all(draw_b[q] == d for q, d in draw_a.items()) and len(set(draw_a.values())) > 100
    assert a.batches(0) != pack_batches(rows, 8, seed=1)  # and the seed still picks the order


def test_a_checkpoint_from_before_the_digest_order_resumes_in_the_order_it_started_with():
    """Its state has no "order": the rest of its epoch comes from the old shuffle of indices and its
    draws stay keyed by index, so no row is seen twice or skipped across the resume."""
    import random

    pool = tuple(f"n{j}" for j in range(9))
    rows = [Example("i", f"q{i}", f"p{i}", None, mined_negatives=pool) for i in range(32)]
    old = list(range(32))
    random.Random(5).shuffle(old)  # what the sampler did before: batches are this order in chunks
    s = NoDuplicateBatchSampler(rows, 8, seed=5, negatives_per_query=2)
    state = {k: v for k, v in s.state_dict().items() if k != "order"} | {"done": 2}
    s.load_state_dict(state)
    assert [b for _, b in zip(range(2), s, strict=False)] == [old[16:24], old[24:32]]
    batch = old[16:24]
    assert s.negatives(batch, 0)[0] == tuple(random.Random(f"5:0:{batch[0]}").sample(pool, 2))
    assert s.state_dict()["order"] == "index"  # and its next checkpoint says so
    fresh = NoDuplicateBatchSampler(rows, 8, seed=5)
    assert fresh.state_dict()["order"] == "digest" and fresh.batches(0) != s.batches(0)
