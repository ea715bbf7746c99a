"""--init-from: a stage starts from an earlier stage's model dir or checkpoint."""

from __future__ import annotations

import json

import pytest

from tests.train.conftest import small_config
from train.errors import ConfigError


def test_stages_from_a_model_dir_and_from_a_checkpoint(model_dir, dataset_dir, tmp_path):
    from train.lora import main

    main(small_config(model_dir, dataset_dir, tmp_path / "s1", max_steps=2, save_steps=2))
    main(small_config(model_dir, dataset_dir, tmp_path / "s2", max_steps=2, init_from=tmp_path / "s1"))
    meta = json.loads((tmp_path / "s2" / "synthembed.json").read_text())
    assert meta["base_model"] == str(tmp_path / "s1")
    assert meta["training"]["init_from"]["kind"] == "model dir"
    ckpt = tmp_path / "s1" / "checkpoints" / "step-0000002"
    main(small_config(model_dir, dataset_dir, tmp_path / "s3", max_steps=1, init_from=ckpt))
    meta = json.loads((tmp_path / "s3" / "synthembed.json").read_text())
    assert meta["training"]["init_from"]["kind"] == "checkpoint" and meta["base_model"] == str(model_dir)
    with pytest.raises(ConfigError, match="trained with --pooling last, this run has mean"):
        main(small_config(model_dir, dataset_dir, tmp_path / "s4", pooling="mean", init_from=tmp_path / "s1"))
    with pytest.raises(ConfigError, match="--lora-r 16, this run 8"):
        main(small_config(model_dir, dataset_dir, tmp_path / "s5", lora_r=8, init_from=ckpt))
    with pytest.raises(ConfigError, match="neither a train.lora model dir"):
        main(small_config(model_dir, dataset_dir, tmp_path / "s6", init_from=dataset_dir))
