"""Plain Hugging Face dirs (config.json + weights + tokenizer, no synthembed.json or modules.json):
the base model before training, or a raw checkpoint, embedded as train would embed it (issue 8.14)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from eval import passkey, sts
from eval.encoder import Encoder
from eval.errors import EvalError
from eval.model_spec import default_pooling, read_spec
from tests.eval.conftest import sentence
from tests.tiny_models import build_bert, build_mistral, build_tokenizer

INSTR = "find the passage about the text"


@pytest.fixture(scope="module")
def causal_dir(tmp_path_factory):
    """A tiny MistralForCausalLM checkpoint (LM head included), as a raw checkpoint is saved."""
    out = tmp_path_factory.mktemp("raw-mistral")
    build_mistral(seed=3, causal_lm=True).save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A tiny BERT with a [CLS] ... [SEP] tokenizer and no EOS token, 128 learned positions."""
    out = tmp_path_factory.mktemp("raw-bert")
    build_bert(seed=4).save_pretrained(out)
    build_tokenizer("bert").save_pretrained(out)
    return out


def _texts(n=16, seed=0):
    rng = random.Random(seed)
    return [sentence(rng, 1, 30) for _ in range(n)]


def _train_vectors(model_dir, texts, pooling, max_length=512):
    """What train computes for this base: its tokenizer loader (EOS rule), tokenize() and embed()."""
    from transformers import AutoModel

    from train.backbone import load_tokenizer
    from train.inputs import tokenize
    from train.modeling import embed

    model, tok = AutoModel.from_pretrained(model_dir).eval(), load_tokenizer(str(model_dir))
    with torch.inference_mode():
        return embed(model, tokenize(tok, texts, max_length), pooling).numpy()


def test_default_pooling_from_the_config():
    assert default_pooling({"model_type": "mistral", "architectures": ["MistralForCausalLM"]}) == "last"
    assert default_pooling({"model_type": "llama", "architectures": ["LlamaModel"]}) == "last"  # bare decoder
    assert default_pooling({"model_type": "qwen2"}) == "last"
    assert default_pooling({"model_type": "bert", "architectures": ["BertModel"]}) == "mean"
    assert default_pooling({"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"]}) == "mean"
    assert default_pooling({"model_type": "bert", "is_decoder": True}) == "last"


def test_causal_lm_dir_gets_last_token_pooling_with_trains_eos(causal_dir):
    spec = read_spec(str(causal_dir))
    assert (spec.kind, spec.pooling, spec.add_eos, spec.normalize, spec.query_template, spec.max_length) == (
        "huggingface",
        "last",
        True,
        True,
        None,
        512,
    )
    enc = Encoder.load(str(causal_dir), batch_size=5, show_progress=False)
    texts = _texts()
    np.testing.assert_allclose(enc.encode(texts), _train_vectors(causal_dir, texts, "last"), atol=1e-5)
    assert enc.format(texts, INSTR) == texts  # no instruction unless forced
    forced = Encoder.load(str(causal_dir), use_instructions="yes", show_progress=False)
    assert forced.format(["q"], INSTR) == [f"Instruct: {INSTR}\nQuery: q"]


def test_encoder_dir_gets_mean_pooling_and_equals_sentence_transformers(encoder_dir):
    from sentence_transformers import SentenceTransformer

    spec = read_spec(str(encoder_dir))
    assert (spec.kind, spec.pooling, spec.max_length) == ("huggingface", "mean", 128)  # capped by positions
    enc = Encoder.load(str(encoder_dir), batch_size=6, show_progress=False)
    texts = _texts(20, seed=1)
    ours = enc.encode(texts)
    np.testing.assert_allclose(ours, _train_vectors(encoder_dir, texts, "mean", 128), atol=1e-5)
    # sentence-transformers reads a plain dir as Transformer -> mean Pooling; [SEP] plays EOS for us.
    st = SentenceTransformer(str(encoder_dir), device="cpu")
    np.testing.assert_allclose(ours, st.encode(texts, normalize_embeddings=True), atol=1e-5)
    last = Encoder.load(str(encoder_dir), pooling="last", show_progress=False)
    np.testing.assert_allclose(
        last.encode(texts[:4]), _train_vectors(encoder_dir, texts[:4], "last", 128), atol=1e-5
    )


def test_pooling_flag_errors(encoder_dir, our_model_dir, st_model_dir):
    with pytest.raises(EvalError, match="--pooling 'cls': valid values are last, mean"):
        read_spec(str(encoder_dir), pooling="cls")
    with pytest.raises(
        EvalError, match="--pooling mean: only for plain Hugging Face dirs; .*synthembed.json records"
    ):
        read_spec(str(our_model_dir), pooling="mean")
    with pytest.raises(
        EvalError, match="--pooling last: only for plain Hugging Face dirs; .*modules.json records"
    ):
        read_spec(str(st_model_dir), pooling="last")


def test_cli_scores_a_base_model_before_training_and_runs_passkey_on_a_raw_checkpoint(
    causal_dir, encoder_dir, sts_file, tmp_path, capsys
):
    result = sts.main(
        sts.Config(
            model=str(encoder_dir), data=sts_file, out=str(tmp_path / "s"), cache_dir="", progress=False
        )
    )
    assert result["instruction"] is None and "instruction=none" in capsys.readouterr().out
    cfg = passkey.Config(
        model=str(causal_dir),
        lengths="16,32",
        num_docs=4,
        out=str(tmp_path / "p"),
        cache_dir="",
        progress=False,
    )
    out = passkey.main(cfg)
    assert out["instruction"] is None and set(out["accuracy"]["as trained"]) == {"16", "32"}
    assert "instruction=none" in capsys.readouterr().out
