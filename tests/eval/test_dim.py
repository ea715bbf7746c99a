"""--dim K: the first K values of every embedding, L2-normalised again (Matryoshka truncation)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from eval.encoder import Encoder
from eval.errors import EvalError
from tests.eval.conftest import write_our_model_dir

TEXTS = ["hello world", "what is the text", "find the passage about the text"]


def test_dim_is_the_renormalised_prefix_and_keyed_apart_in_the_cache(our_model_dir, tmp_path):
    full = Encoder.load(str(our_model_dir), device="cpu", cache_dir=tmp_path, show_progress=False)
    cut = Encoder.load(str(our_model_dir), device="cpu", cache_dir=tmp_path, show_progress=False, dim=8)
    a, b = full.encode(TEXTS), cut.encode(TEXTS)
    assert a.shape == (3, 32) and b.shape == (3, 8)
    want = a[:, :8] / np.linalg.norm(a[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(b, want, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-6)
    assert full.encode(TEXTS).shape == (3, 32)  # the cache did not hand the 8-dim vectors back


def test_dim_outside_the_model_and_untrained_prefixes(our_model_dir, tmp_path, caplog):
    with pytest.raises(EvalError, match="--dim 33: must be between 1 and the model's embedding size 32"):
        Encoder.load(str(our_model_dir), device="cpu", cache_dir=None, dim=33)
    mat = write_our_model_dir(tmp_path / "mat", matryoshka_dims=[32, 16, 8])
    with caplog.at_level(logging.WARNING):
        Encoder.load(str(mat), device="cpu", cache_dir=None, dim=16)
        assert "trained for the prefixes" not in caplog.text
        Encoder.load(str(mat), device="cpu", cache_dir=None, dim=4)
    assert "--dim 4" in caplog.text and "32,16,8" in caplog.text


def test_sts_cli_takes_dim(our_model_dir, tmp_path):
    from eval.sts import Config, main

    data = tmp_path / "sts.tsv"
    data.write_text(
        "sentence1\tsentence2\tscore\n"
        + "".join(
            f"{a}\t{b}\t{i}\n"
            for i, (a, b) in enumerate(
                [
                    ("hello world", "world hello"),
                    ("what is the text", "the text"),
                    ("a b c", "d e"),
                    ("find the", "of the"),
                ]
            )
        )
    )
    result = main(
        Config(
            model=str(our_model_dir), data=data, out=str(tmp_path / "r"), dim=8, cache_dir="", progress=False
        )
    )
    assert result["config"]["dim"] == "8"
