"""eval.retrieval --mode dense,sparse,colbert,hybrid on a tiny --heads model: each mode equals a brute-force
computation over the whole corpus, the CLI writes one entry per mode, and FlagEmbedding's own M3 loader
(BGEM3FlagModel's M3Embedder, from PyPI) reads the exported dir and gives our representations."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types

import numpy as np
import pytest
import torch

from tests.eval.conftest import write_beir
from tests.tiny_models import build_bert, build_tokenizer
from tests.train.conftest import make_rows, small_config, write_dataset_dir


@pytest.fixture(scope="module")
def heads_model(tmp_path_factory):
    from train.lora import main

    root = tmp_path_factory.mktemp("m3-eval")
    bert = root / "bert"
    build_bert().save_pretrained(bert)
    build_tokenizer("bert").save_pretrained(bert)
    data = write_dataset_dir(root / "ds", make_rows(32, seed=1))
    cfg = small_config(
        bert,
        data,
        root / "model",
        pooling="mean",
        query_format="plain",
        heads="dense,sparse,colbert",
        max_steps=2,
        lr=1e-2,
    )
    main(cfg)
    return cfg.output, bert


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    return write_beir(tmp_path_factory.mktemp("beir") / "b", n_docs=60, n_queries=8)


def load(model_dir):
    from eval.encoder import Encoder
    from eval.m3_search import load_heads_for

    enc = Encoder.load(str(model_dir), device="cpu", cache_dir=None, show_progress=False)
    return enc, load_heads_for(enc)


def test_each_mode_equals_brute_force_over_the_corpus(heads_model, beir):
    from eval.beir import load_beir
    from eval.m3_search import encode_reps, run_mode
    from train.m3_losses import colbert_scores

    enc, heads = load(heads_model[0])
    data = load_beir(beir, "test")
    ids = list(data.corpus)
    c = encode_reps(enc, heads, [data.corpus[d] for d in ids])
    q = encode_reps(enc, heads, list(data.queries.values()))
    np.testing.assert_allclose(
        c.dense, enc.encode([data.corpus[d] for d in ids]), atol=1e-5
    )  # = --mode dense
    lex_q, lex_c = q.sparse.toarray(), c.sparse.toarray()
    sparse = lex_q @ lex_c.T  # (Q, N)
    colbert = np.stack(
        [
            colbert_scores(torch.tensor(v[None].astype(np.float32)), torch.ones(1, len(v)), *pad(c.colbert))[
                0
            ].numpy()
            for v in q.colbert
        ]
    )
    dense = q.dense @ c.dense.T
    w = {"dense": 1.0, "sparse": 0.3, "colbert": 1.0}
    expected = {"sparse": sparse, "colbert": colbert, "hybrid": dense + 0.3 * sparse + colbert}
    for mode, full in expected.items():
        run = run_mode(mode, q, c, ids, 10, rerank_k=len(ids), weights=w)  # candidates: the whole corpus
        for i, hits in enumerate(run):
            top = [
                ids[j] for j in np.argsort(-full[i], kind="stable")[:10] if mode != "sparse" or full[i, j] > 0
            ]
            assert list(hits) == top, (mode, i)
            np.testing.assert_allclose(
                [hits[d] for d in top], [full[i, ids.index(d)] for d in top], atol=1e-4
            )


def pad(vecs):
    from eval.m3_search import _padded

    return _padded(vecs)


def test_cli_writes_a_table_and_one_entry_per_mode(heads_model, beir, tmp_path, capsys):
    from eval.retrieval import Config, main

    out = tmp_path / "r.json"
    main(
        Config(
            model=str(heads_model[0]),
            data=beir,
            mode="all",
            rerank_k=20,
            out=str(out),
            cache_dir="",
            progress=False,
            device="cpu",
        )
    )
    result = json.loads(out.read_text())
    assert list(m for m in result["modes"] if not m.startswith("_")) == [
        "dense",
        "sparse",
        "colbert",
        "hybrid",
    ]
    for m in ("dense", "sparse", "colbert", "hybrid"):
        r = result["modes"][m]
        assert {"ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"} <= r["scores"].keys()
        assert r["index_bytes"] > 0 and r["search_s"] >= 0
    assert result["scores"] == result["modes"]["dense"]["scores"]
    assert result["modes"]["colbert"]["index_bytes"] > result["modes"]["dense"]["index_bytes"]
    printed = capsys.readouterr().out
    assert "multi-vector index:" in printed and "hybrid" in printed and "nDCG@10" in printed


def test_cli_errors_are_one_line(heads_model, beir, tmp_path, capsys):
    """The flag errors in-process (run_main, as `python -m eval.retrieval` runs it); the last one also as
    a real process, for the exit status and the one line with no traceback."""
    import subprocess

    from eval.cli import run_main
    from eval.retrieval import Config
    from eval.retrieval import main as retrieval_main

    base = ["--data", str(beir), "--cache-dir", "", "--out", str(tmp_path)]
    cases = [
        (["--model", str(heads_model[0]), "--mode", "bm25"], "--mode 'bm25'"),
        (["--model", str(heads_model[0]), "--weights", "1,2"], "--weights '1,2'"),
        (
            ["--model", str(heads_model[1]), "--mode", "sparse", "--pooling", "mean"],
            "no sparse/colbert heads",
        ),
    ]
    for args, msg in cases:
        with pytest.raises(SystemExit) as exc:
            run_main(Config, retrieval_main, base + args)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and msg in err, err[-2000:]
        assert err.strip().splitlines()[-1].startswith("error:")
    env = {**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2])}
    args, msg = cases[-1]
    cmd = [sys.executable, "-m", "eval.retrieval", *base, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 2 and msg in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "Traceback" not in proc.stderr


def flagembedding_m3():
    """FlagEmbedding's M3Embedder, imported past the package's __init__, which imports every model it
    ships and fails on transformers 5 (a MiniCPM reranker needs transformers.modeling_attn_mask_utils)."""
    spec = importlib.util.find_spec("FlagEmbedding")
    if spec is None:
        pytest.skip("FlagEmbedding is not installed (pip install FlagEmbedding)")
    root = spec.submodule_search_locations[0]
    for name in (
        "FlagEmbedding",
        "FlagEmbedding.inference",
        "FlagEmbedding.inference.embedder",
        "FlagEmbedding.finetune",
        "FlagEmbedding.finetune.embedder",
    ):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [os.path.join(root, *name.split(".")[1:])]
            sys.modules[name] = module
    from FlagEmbedding.inference.embedder.encoder_only.m3 import M3Embedder

    return M3Embedder


def test_flagembedding_reads_the_exported_heads(heads_model):
    from eval.m3_search import encode_reps

    M3Embedder = flagembedding_m3()
    model_dir = heads_model[0]
    texts = ["hello world", "the passage about text on topic3 a b c", "what is the passkey of w1 w2"]
    theirs = M3Embedder(
        str(model_dir), pooling_method="mean", normalize_embeddings=True, use_fp16=False, devices="cpu"
    ).encode(
        texts, batch_size=2, max_length=64, return_dense=True, return_sparse=True, return_colbert_vecs=True
    )
    enc, heads = load(model_dir)
    ours = encode_reps(enc, heads, texts)
    np.testing.assert_allclose(theirs["dense_vecs"], ours.dense, atol=1e-5)
    lex = ours.sparse.toarray()
    for i, weights in enumerate(theirs["lexical_weights"]):
        mine = {str(j): float(lex[i, j]) for j in np.nonzero(lex[i])[0]}
        assert weights.keys() == mine.keys(), i
        np.testing.assert_allclose([float(weights[k]) for k in mine], list(mine.values()), atol=1e-5)
    for i, vecs in enumerate(theirs["colbert_vecs"]):
        np.testing.assert_allclose(vecs, ours.colbert[i].astype(np.float32), atol=2e-3)  # ours stored float16
