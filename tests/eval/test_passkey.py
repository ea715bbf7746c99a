"""Passkey data is deterministic, an oracle scores 1.0, and the CLI writes table, JSON and PNG."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from eval import passkey
from eval.errors import EvalError
from eval.passkey_task import FIRST, LAST, build, top1_accuracy

words = lambda s: len(s.split())  # noqa: E731


def test_build_is_deterministic_and_within_length():
    a, b = build(200, 20, seed=3, count_tokens=words), build(200, 20, seed=3, count_tokens=words)
    assert a == b
    assert build(200, 20, seed=4, count_tokens=words) != a
    assert all(180 <= words(d) <= 200 for d in a.docs)  # filled close to the length, never over
    for q, ans in zip(a.queries, a.answers, strict=True):
        name = re.match(r"what is (.+)'s passkey\?", q).group(1)
        assert a.docs[ans].count(f"{name}'s passkey is {a.passkeys[ans]}") == 1
    assert len(set(a.names)) == 20 and a.answers != list(range(20))  # queries are shuffled


class Oracle:
    """Knows the answer: one dimension per person, set where the text names that person."""

    names = [f"{f} {last}" for f in FIRST for last in LAST]

    def encode(self, texts, *, instruction=None, normalize=None):
        out = np.zeros((len(texts), len(self.names)), np.float32)
        for i, t in enumerate(texts):
            for j, n in enumerate(self.names):
                if n in t:
                    out[i, j] = 1.0
        return out


class Blind:
    """Sees only the length of a text: every document looks alike."""

    def encode(self, texts, *, instruction=None, normalize=None):
        return np.array([[1.0, len(t) % 3] for t in texts], np.float32)


def test_oracle_scores_one_and_blind_does_not():
    data = build(128, 50, seed=0, count_tokens=words)
    assert top1_accuracy(Oracle(), data, "x") == 1.0
    assert top1_accuracy(Blind(), data, "x") < 0.2


def test_cli_with_rope_theta(our_model_dir, tmp_path, capsys):
    cfg = passkey.Config(
        model=str(our_model_dir),
        lengths="16,32,64",
        num_docs=6,
        rope_theta=1e6,
        out=str(tmp_path / "res"),
        cache_dir="",
        progress=False,
    )
    result = passkey.main(cfg)
    saved = json.loads((tmp_path / "res" / "passkey.json").read_text())
    assert saved["accuracy"] == result["accuracy"]
    assert set(saved["accuracy"]) == {"as trained", "rope_theta=1e+06"}
    assert all(0.0 <= a <= 1.0 for acc in saved["accuracy"].values() for a in acc.values())
    assert (tmp_path / "res" / "passkey.png").read_bytes()[:4] == b"\x89PNG"
    assert "| length | as trained | rope_theta=1e+06 |" in capsys.readouterr().out


def test_rope_theta_changes_the_vectors(our_model_dir):
    from eval.encoder import Encoder

    text = [
        " ".join(f"w{i % 17}" for i in range(50))
    ]  # distinct tokens: identical ones attend alike at any theta
    a = Encoder.load(str(our_model_dir), show_progress=False).encode(text)
    b = Encoder.load(str(our_model_dir), rope_theta=1e6, show_progress=False).encode(text)
    assert not np.allclose(a, b, atol=1e-4)


def test_rope_theta_on_a_model_without_rope(st_model_dir):
    cfg = passkey.Config(
        model=str(st_model_dir), lengths="16", num_docs=2, rope_theta=1e6, cache_dir="", progress=False
    )
    with pytest.raises(EvalError, match="--rope-theta: model type .bert. has no RoPE"):
        passkey.main(cfg)


def test_bad_lengths():
    with pytest.raises(EvalError, match="--lengths"):
        passkey.Config(model="m", lengths="abc")
