"""eval reads what train's export writes, and embeds it as sentence-transformers does.

A tiny Mistral base plus a random LoRA adapter goes through ``train.export.export``; the exported
dir must give the same query and document vectors through our encoder and through
``SentenceTransformer(DIR)`` with its recorded query prompt (the design's loading contract).
"""

from __future__ import annotations

import inspect
import random

import numpy as np
import pytest
import torch

from eval import retrieval
from eval.encoder import Encoder
from tests.eval.conftest import build_mistral, build_tokenizer, sentence

INSTR = "find the passage about the text"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from train.backbone import add_lora, load_backbone
    from train.export import export

    root = tmp_path_factory.mktemp("export")
    base = root / "base"
    build_mistral().save_pretrained(base)
    build_tokenizer().save_pretrained(base)
    lora = dict(r=4, alpha=8, dropout=0.0, target="q_proj,v_proj")
    names = add_lora(load_backbone(str(base), dtype=torch.float32), **lora).state_dict()
    torch.manual_seed(5)  # a non-zero adapter, so the merge matters
    adapter = {"backbone." + k: torch.randn_like(v) * 0.1 for k, v in names.items() if "lora_" in k}
    # What the model card renders from (training flags and run totals).
    training = dict(batch_size=2, data=["x"], final_loss=1.0, lora_alpha=8, lora_dropout=0.0, lora_r=4,
                    lora_target="q_proj,v_proj", lr=1e-4, rope_theta=None, rows=1, seconds=1, steps=1,
                    temperature=0.02, tokens=1, warmup_steps=0)  # fmt: skip
    kwargs = dict(adapter=adapter, tokenizer=build_tokenizer(), base_model=str(base), dtype=torch.float32,
                  rope_theta=None, lora=lora, pooling="last", normalize=True, max_length=512,
                  query_instruction=INSTR, training=training)  # fmt: skip
    if "card" in inspect.signature(export).parameters:  # an earlier export() took the card values apart
        kwargs["card"] = {**training, "base_model": "tiny", "license": "mit", "max_length": 512, "pooling": "last",
                          "repo_or_path": "x", "title": "t", "normalize": True}  # fmt: skip
    return export(root / "out", **kwargs)


def test_exported_dir_embeds_like_sentence_transformers(exported):
    from sentence_transformers import SentenceTransformer

    from train.inputs import format_query

    rng = random.Random(0)
    texts = [sentence(rng, 1, 25) for _ in range(12)]
    ours = Encoder.load(str(exported), batch_size=5, show_progress=False)
    assert (ours.spec.kind, ours.spec.pooling, ours.spec.default_instruction) == ("synthembed", "last", INSTR)
    st = SentenceTransformer(str(exported), device="cpu")
    np.testing.assert_allclose(ours.encode(texts), st.encode(texts), atol=1e-5)
    np.testing.assert_allclose(
        ours.encode(texts, instruction=INSTR), st.encode(texts, prompt=format_query(INSTR, "")), atol=1e-5
    )


def test_retrieval_defaults_to_the_exported_instruction(exported, beir_dir, tmp_path):
    cfg = retrieval.Config(
        model=str(exported), data=beir_dir, out=str(tmp_path), cache_dir="", progress=False
    )
    assert retrieval.main(cfg)["instruction"] == INSTR
