"""train.interpolate: W(alpha) = (1 - alpha) W_base + alpha W_tuned, in a model dir every loader reads."""

from __future__ import annotations

import json

import pytest
import torch

from train.interpolate import InterpolateConfig, interpolate_state, main

from ..tiny_models import write_st_dir


def fake_tuned(tmp_path):
    """A tuned-model dir as train.lora writes one (weights, synthembed.json naming the base)."""
    base = write_st_dir(tmp_path / "base", seed=0)
    tuned = write_st_dir(tmp_path / "tuned", seed=1)
    (tuned / "synthembed.json").write_text(json.dumps({"format_version": 1, "base_model": str(base)}))
    return base, tuned


def weights(path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(path).state_dict()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_the_merged_weights_lie_between_base_and_tuned(tmp_path, alpha):
    base, tuned = fake_tuned(tmp_path)
    out = main(InterpolateConfig(model=tuned, alpha=alpha, output=tmp_path / "out"))
    b, t, m = weights(base), weights(tuned), weights(out)
    for name, w in m.items():
        if w.is_floating_point():
            assert torch.allclose(w, (1 - alpha) * b[name] + alpha * t[name], atol=1e-6), name
    meta = json.loads((out / "synthembed.json").read_text())
    assert meta["interpolation"]["alpha"] == alpha and (out / "modules.json").exists()
    assert not (tmp_path / "out.tmp").exists()


def test_mismatched_models_and_bad_flags_are_refused(tmp_path):
    with pytest.raises(ValueError, match="different tensors"):
        interpolate_state({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        interpolate_state({"a": torch.zeros(1)}, {"a": torch.zeros(2)}, 0.5)
    _, tuned = fake_tuned(tmp_path)
    with pytest.raises(ValueError, match="--alpha must be in"):
        InterpolateConfig(model=tuned, alpha=1.5, output=tmp_path / "o")
    with pytest.raises(ValueError, match="no synthembed.json"):
        InterpolateConfig(model=tmp_path, alpha=0.5, output=tmp_path / "o")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(ValueError, match="--output"):
        InterpolateConfig(model=tuned, alpha=0.5, output=tmp_path / "full")
