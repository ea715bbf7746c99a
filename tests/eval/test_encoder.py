"""The eval encoder gives the vectors training computes, whatever the batching, and caches them."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from eval.encoder import Encoder
from eval.errors import EvalError
from eval.model_spec import read_spec
from tests.eval.conftest import sentence, write_our_model_dir

INSTR = "find the passage about the text"


def _texts(n=20, seed=0):
    rng = random.Random(seed)
    return [sentence(rng, 1, 30) for _ in range(n)]


def _train_vectors(model_dir, texts, instruction=None):
    """What training computes: train.inputs formatting/tokenization + train.modeling.embed."""
    from transformers import AutoModel, AutoTokenizer

    from common.query_format import format_query
    from train.inputs import tokenize
    from train.modeling import embed

    model, tok = AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    if instruction:
        texts = [format_query(instruction, t) for t in texts]
    with torch.inference_mode():
        return embed(model, tokenize(tok, texts, 512), "last", normalize=True).numpy()


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_same_vectors_as_training(tmp_path, padding_side):
    model_dir = write_our_model_dir(tmp_path / "m", padding_side=padding_side)
    enc = Encoder.load(str(model_dir), batch_size=4, show_progress=False)
    texts = _texts()
    np.testing.assert_allclose(enc.encode(texts), _train_vectors(model_dir, texts), atol=1e-5)
    np.testing.assert_allclose(
        enc.encode(texts, instruction=INSTR), _train_vectors(model_dir, texts, INSTR), atol=1e-5
    )


def test_spec_of_our_dir_matches_train(our_model_dir):
    from common.query_format import QUERY_TEMPLATE

    spec = read_spec(str(our_model_dir))
    assert (spec.kind, spec.pooling, spec.add_eos, spec.max_length) == ("synthembed", "last", True, 512)
    assert spec.query_template == QUERY_TEMPLATE


def test_length_sorting_and_batch_size_do_not_change_vectors(our_model_dir):
    texts = _texts(30, seed=1)
    a = Encoder.load(str(our_model_dir), batch_size=7, show_progress=False).encode(texts)
    b = Encoder.load(str(our_model_dir), batch_size=1, sort_by_length=False, show_progress=False).encode(
        texts
    )
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_normalize_off_gives_raw_vectors(our_model_dir):
    enc = Encoder.load(str(our_model_dir), show_progress=False)
    raw, unit = enc.encode(["w1 w2 w3"], normalize=False), enc.encode(["w1 w2 w3"])
    assert not np.isclose(np.linalg.norm(raw), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw), unit, atol=1e-6)


def test_cache_hit_skips_the_model(our_model_dir, tmp_path):
    texts = _texts(10)
    enc = Encoder.load(str(our_model_dir), cache_dir=tmp_path / "cache", show_progress=False)
    first = enc.encode(texts)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("the model ran on a cached corpus")

    again = Encoder.load(str(our_model_dir), cache_dir=tmp_path / "cache", show_progress=False)
    again.model.forward = boom
    np.testing.assert_array_equal(again.encode(texts), first)
    assert again.cache.hits == 1
    # another instruction, another normalisation or other texts are other entries
    with pytest.raises(AssertionError, match="the model ran"):
        again.encode(texts, instruction=INSTR)
    with pytest.raises(AssertionError, match="the model ran"):
        again.encode(texts, normalize=False)
    fresh = Encoder.load(str(our_model_dir), cache_dir=tmp_path / "cache", show_progress=False)
    fresh.model.forward = boom  # a new run: no memo of this run's texts, and no entry for this list
    with pytest.raises(AssertionError, match="the model ran"):
        fresh.encode(texts[:-1])


def test_a_text_is_embedded_once_per_run(our_model_dir, tmp_path):
    """Repeats inside a call and texts met again in a later call (another file of the same run) skip
    the model, with or without the disk cache, and come back as the vectors a plain encode gives."""
    texts = _texts(12, seed=3)
    plain = Encoder.load(str(our_model_dir), show_progress=False, cache_dir=None).encode(texts)
    for cache_dir in (None, tmp_path / "cache"):
        enc = Encoder.load(str(our_model_dir), show_progress=False, cache_dir=cache_dir)
        seen = []
        forward = enc.model.forward
        enc.model.forward = lambda *a, seen=seen, forward=forward, **kw: (
            seen.append(kw["input_ids"].shape[0]),
            forward(*a, **kw),
        )[1]
        first = enc.encode(texts[:8] + texts[:2])  # two repeats inside one call
        assert sum(seen) == 8 and (enc.stats.encoded, enc.stats.cached) == (8, 2)
        np.testing.assert_allclose(first, np.concatenate([plain[:8], plain[:2]]), atol=1e-5)
        second = enc.encode(texts[4:])  # 4 texts from the first call, 4 new ones
        assert sum(seen) == 12 and (enc.stats.encoded, enc.stats.cached) == (12, 6)
        np.testing.assert_allclose(second, plain[4:], atol=1e-5)
        enc.encode(texts[4:], normalize=False)  # another normalisation is another vector
        assert (enc.stats.encoded, enc.stats.cached) == (20, 6)


def test_cache_key_changes_with_max_length(our_model_dir, tmp_path):
    texts = _texts(5)
    Encoder.load(str(our_model_dir), cache_dir=tmp_path, show_progress=False).encode(texts)
    Encoder.load(str(our_model_dir), cache_dir=tmp_path, max_length=8, show_progress=False).encode(texts)
    assert len(list(tmp_path.rglob("*.npy"))) == 2


def test_sentence_transformers_dir_equals_sentence_transformers(st_model_dir):
    from sentence_transformers import SentenceTransformer

    texts = _texts(25, seed=3)
    ours = Encoder.load(str(st_model_dir), batch_size=8, show_progress=False)
    assert (ours.spec.kind, ours.spec.pooling, ours.spec.normalize, ours.spec.max_length) == (
        "sentence-transformers",
        "mean",
        True,
        64,
    )
    ref = SentenceTransformer(str(st_model_dir), device="cpu").encode(texts, batch_size=8)
    np.testing.assert_allclose(ours.encode(texts), ref, atol=1e-5)
    assert ours.format(texts, INSTR) == texts  # such models take no instruction


def test_load_errors(tmp_path, our_model_dir):
    with pytest.raises(EvalError, match="no such directory"):
        read_spec(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match="no synthembed.json .*, modules.json .* or config.json"):
        read_spec(str(tmp_path / "empty"))
    bad = write_our_model_dir(tmp_path / "v2", format_version=2)
    with pytest.raises(EvalError, match="format_version 2 is not supported"):
        read_spec(str(bad))
    (bad / "synthembed.json").write_text(json.dumps({"format_version": 1, "pooling": "cls"}))
    with pytest.raises(EvalError, match="synthembed.json: field pooling"):
        read_spec(str(bad))
    (bad / "synthembed.json").write_text(json.dumps({"format_version": 1, "pooling": "last"}))
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(EvalError, match="cannot load the model"):
        Encoder.load(str(bad), show_progress=False)


def test_hub_ids_resolve_through_huggingface_hub(monkeypatch, st_model_dir, tmp_path):
    """The Hub branch, offline: snapshot_download is replaced by a local dir or a failure."""
    import huggingface_hub

    monkeypatch.chdir(tmp_path)  # "acme/tiny" must not exist as a relative path
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(st_model_dir))
    spec = read_spec("acme/tiny")
    assert (spec.name, spec.path, spec.kind) == ("acme/tiny", st_model_dir, "sentence-transformers")

    def offline(repo_id, **kw):
        raise OSError("We couldn't connect to 'https://huggingface.co'\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(
        EvalError,
        match=r"--model acme/tiny: not a local dir and the Hub download failed \(OSError: We couldn't connect",
    ):
        read_spec("acme/tiny")


def test_no_false_too_long_warning_from_the_tokenizer(tmp_path):
    """Inputs are cut to the model's max length when embedded, so transformers' "Token indices sequence
    length is longer than the specified maximum sequence length ... indexing errors" is false here and
    must not reach the screen (it did, between the quick start's bars)."""
    import logging

    model = write_our_model_dir(tmp_path / "m", max_length=16)
    tokenizer_config = model / "tokenizer_config.json"
    config = json.loads(tokenizer_config.read_text())
    tokenizer_config.write_text(json.dumps({**config, "model_max_length": 16}))
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        enc = Encoder.load(str(model), show_progress=False)
        assert enc.tokenizer.model_max_length == 16
        vectors = enc.encode([sentence(random.Random(0), 40, 50), "short"])
    finally:
        logger.removeHandler(handler)
    assert vectors.shape[0] == 2
    assert not [s for s in said if "Token indices sequence length" in s], said
