"""train.lora --heads on a tiny BERT: the export layout, sparse weights that learn the shared topic word,
and --resume (with --group-by-length) giving the uninterrupted run's losses and heads."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from tests.tiny_models import TOPICS, VOCAB, build_bert, build_tokenizer
from tests.train.conftest import losses, make_rows, small_config, write_dataset_dir

HEADS = "dense,sparse,colbert"


@pytest.fixture(scope="module")
def m3_run(tmp_path_factory):
    """A 30-step --heads run on rows whose query and positive share one topic word; checkpoints at 15, 30."""
    from train.lora import main

    root = tmp_path_factory.mktemp("m3")
    bert = root / "bert"
    build_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).save_pretrained(bert)
    build_tokenizer("bert").save_pretrained(bert)
    data = write_dataset_dir(root / "ds", make_rows(96, seed=3))
    cfg = small_config(
        bert,
        data,
        root / "out",
        pooling="mean",
        query_format="plain",
        heads=HEADS,
        group_by_length=True,
        max_steps=30,
        save_steps=15,
        lr=1e-2,
        lora_dropout=0.0,
        max_grad_norm=0.0,
        head_loss_weights="1,1,1",  # M3 weighs the sparse loss 0.1; a 30-step fit needs its full signal
    )
    main(cfg)
    return cfg


def test_export_has_flagembedding_files_and_a_sentence_transformers_dense_part(m3_run):
    from sentence_transformers import SentenceTransformer

    out = m3_run.output
    meta = json.loads((out / "synthembed.json").read_text())["heads"]
    assert meta["heads"] == ["dense", "sparse", "colbert"] and meta["colbert_skip_first"] is True
    assert meta["score_weights"] == {"dense": 1.0, "sparse": 0.3, "colbert": 1.0}
    sparse = torch.load(out / "sparse_linear.pt", weights_only=True)
    colbert = torch.load(out / "colbert_linear.pt", weights_only=True)
    assert {k: tuple(v.shape) for k, v in sparse.items()} == {"weight": (1, 32), "bias": (1,)}
    assert {k: tuple(v.shape) for k, v in colbert.items()} == {"weight": (32, 32), "bias": (32,)}
    st = SentenceTransformer(str(out), device="cpu")
    assert st.encode(["hello world"]).shape == (1, 32)
    rec = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_dense", "loss_sparse", "loss_colbert", "loss_fused", "distill_sparse"} <= rec[-1].keys()


def topic_weight_ratio(enc, heads) -> float:
    """Mean lexical weight of a positive's topic word (the token its query shares) over the mean weight of
    its other words, on unseen rows of the training kind."""
    from eval.m3_search import encode_reps

    rows = make_rows(40, seed=11)
    lex = encode_reps(enc, heads, [r["positive"] for r in rows]).sparse.toarray()
    topic_ids = {VOCAB[t] for t in TOPICS}
    shared, other = [], []
    for r, w in zip(rows, lex, strict=True):
        ids = {VOCAB[t] for t in r["positive"].split()}
        shared += [w[i] for i in ids & topic_ids]
        other += [w[i] for i in ids - topic_ids]
    return (sum(shared) / len(shared)) / (sum(other) / len(other) + 1e-9)


def test_sparse_weights_rise_on_the_token_query_and_positive_share(m3_run):
    """Trained: the shared topic word outweighs the other words several times; before training (the base
    model, which LoRA starts as, with freshly initialised heads, averaged over seeds) it does not."""
    from eval.encoder import Encoder
    from eval.m3_search import load_heads_for
    from train.heads_io import build_heads

    trained_enc = Encoder.load(str(m3_run.output), device="cpu", cache_dir=None, show_progress=False)
    trained = topic_weight_ratio(trained_enc, load_heads_for(trained_enc))
    base = Encoder.load(m3_run.model, device="cpu", cache_dir=None, show_progress=False, pooling="mean")
    before = []
    for seed in range(5):
        torch.manual_seed(seed)
        before.append(
            topic_weight_ratio(base, build_heads(base.model, base.tokenizer, HEADS.split(",")).eval())
        )
    assert trained > 3 and trained > 2 * sum(before) / len(before), (
        trained,
        before,
    )  # random heads: ~1.5 on average


def test_resume_gives_the_uninterrupted_losses_and_heads(m3_run, tmp_path):
    from train.lora import main

    out = tmp_path / "again"
    shutil.copytree(m3_run.output / "checkpoints", out / "checkpoints")
    shutil.rmtree(out / "checkpoints" / "step-0000030")
    shutil.copy(m3_run.output / "metrics.jsonl", out / "metrics.jsonl")
    main(dataclasses.replace(m3_run, output=out, resume=True))
    assert losses(out) == pytest.approx(losses(m3_run.output), abs=1e-6)
    for f in ("sparse_linear.pt", "colbert_linear.pt"):
        a, b = (torch.load(d / f, weights_only=True) for d in (m3_run.output, out))
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
