"""Chunked exact search returns what one full score matrix would."""

from __future__ import annotations

import numpy as np
import pytest

from eval.search import search


def test_worked_example():
    hits = search(
        np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), ["a", "b", "c"], k=2
    )
    assert list(hits[0]) == ["a", "c"]
    assert hits[0]["c"] == pytest.approx(2**-0.5)


@pytest.mark.parametrize("corpus_chunk,query_chunk", [(7, 3), (1, 1), (1000, 1000)])
def test_chunked_equals_full_matrix(corpus_chunk, query_chunk):
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(13, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    ids = [f"d{i}" for i in range(50)]
    hits = search(q, d, ids, k=10, corpus_chunk=corpus_chunk, query_chunk=query_chunk)
    qn, dn = q / np.linalg.norm(q, axis=1, keepdims=True), d / np.linalg.norm(d, axis=1, keepdims=True)
    full = qn @ dn.T  # (13, 50): the matrix the chunked search never builds
    for row, got in zip(full, hits, strict=True):
        want = np.argsort(-row)[:10]
        assert list(got) == [ids[i] for i in want]
        np.testing.assert_allclose(list(got.values()), row[want], rtol=1e-5)


def test_k_larger_than_corpus():
    hits = search(
        np.ones((2, 3), np.float32), np.eye(3, dtype=np.float32), ["a", "b", "c"], k=100, corpus_chunk=2
    )
    assert all(len(h) == 3 for h in hits)
