"""BGE-M3's heads: shapes, hand-computed scores and loss, GradCache equivalence, and a tiny fit whose
sparse weights rise on the tokens a query shares with its positive."""

from __future__ import annotations

import math

import pytest
import torch

from tests.tiny_models import VOCAB, build_bert, build_tokenizer
from train.heads import HEADS, MultiHeadEncoder, Reps, colbert_mask, lexical_weights
from train.heads_io import build_heads
from train.m3_config import HEADS as CONFIG_HEADS
from train.m3_config import parse_heads, parse_weights
from train.m3_losses import colbert_scores, fused_scores, m3_loss, soft_cross_entropy, sparse_scores
from train.m3_step import M3StepLoss


def test_config_keeps_a_literal_copy_of_the_heads():
    assert CONFIG_HEADS == HEADS
    assert parse_heads("colbert, dense") == ("dense", "colbert")
    assert parse_weights("1,0.3,1", "--x") == (1.0, 0.3, 1.0)
    for bad in ("sparse", "dense,bm25"):
        with pytest.raises(ValueError):
            parse_heads(bad)
    with pytest.raises(ValueError, match="three numbers"):
        parse_weights("1,0.3", "--head-score-weights")


def test_config_rejects_bad_head_flags_in_one_line(tmp_path):
    from train.config import TrainConfig
    from train.errors import ConfigError

    with pytest.raises(ConfigError, match="--heads 'dense,bm25'"):
        TrainConfig(data=["d"], output=tmp_path, heads="dense,bm25")
    with pytest.raises(ConfigError, match="--head-loss-weights"):
        TrainConfig(data=["d"], output=tmp_path, heads="dense,sparse", head_loss_weights="1,-1,1")


def test_lexical_weights_worked_example():
    ids = torch.tensor([[7, 9, 7, 3, 1]])  # 3 is special, the last position is padding
    w = torch.tensor([[0.2, 0.5, 0.4, 0.9, 0.8]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    lex = lexical_weights(w, ids, mask, torch.tensor([3]), vocab_size=12)  # (1, 12)
    expected = torch.zeros(1, 12)
    expected[0, 7], expected[0, 9] = 0.4, 0.5  # the max per id; special and padding out
    torch.testing.assert_close(lex, expected)


def test_colbert_mask_leaves_out_the_first_real_token():
    assert colbert_mask(torch.tensor([[1, 1, 1, 0]]), True).tolist() == [[0, 1, 1, 0]]
    assert colbert_mask(torch.tensor([[0, 1, 1]]), True).tolist() == [[0, 0, 1]]  # left padding
    assert colbert_mask(torch.tensor([[1, 1, 0]]), False).tolist() == [[1, 1, 0]]


def test_head_shapes_and_invariants():
    from train.inputs import tokenize

    tok = build_tokenizer("bert")
    tok.eos_token = tok.sep_token  # train.backbone's rule for BERT
    model = build_bert()
    heads = build_heads(model, tok, ("dense", "sparse", "colbert"))
    enc = MultiHeadEncoder(model, "mean", True, heads)
    batch = tokenize(tok, ["hello world", "the passage about text on topic3 a b"], 16)
    (r,) = enc(batch)
    b, t = batch["input_ids"].shape
    assert r.dense.shape == (b, 32) and r.sparse.shape == (b, len(VOCAB)) and r.colbert.shape == (b, t, 32)
    assert r.colbert_mask.shape == (b, t) and r.colbert_mask[:, 0].sum() == 0  # [CLS] has no vector
    norms = r.colbert.norm(dim=-1)
    torch.testing.assert_close(norms[r.colbert_mask.bool()], torch.ones(int(r.colbert_mask.sum())))
    assert norms[~r.colbert_mask.bool()].abs().max() == 0
    specials = [VOCAB[s] for s in ("[CLS]", "[SEP]", "<pad>", "[UNK]")]
    assert r.sparse[:, specials].abs().max() == 0 and (r.sparse >= 0).all()
    assert set(r.sparse[0].nonzero().squeeze(-1).tolist()) <= {VOCAB["hello"], VOCAB["world"]}
    torch.testing.assert_close(r.dense.norm(dim=-1), torch.ones(b))


def test_sparse_and_colbert_scores_by_hand():
    q = torch.zeros(1, 5)
    q[0, 1], q[0, 2] = 0.5, 1.0
    d = torch.zeros(2, 5)
    d[0, 2], d[0, 3] = 2.0, 1.0  # shares id 2 only: 1.0 * 2.0
    d[1, 4] = 3.0  # shares nothing
    assert sparse_scores(q, d).tolist() == [[2.0, 0.0]]
    qv = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])  # the third token is padding
    qm = torch.tensor([[1, 1, 0]])
    dv = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 5.0]]])  # the third token is padding: would win
    dm = torch.tensor([[1, 1, 0]])
    # (max(1, .6) + max(0, .8)) / 2 query tokens
    torch.testing.assert_close(colbert_scores(qv, qm, dv, dm), torch.tensor([[0.9]]))


def test_m3_loss_worked_example():
    scores = {"dense": torch.tensor([[1.0, 0.0]]), "sparse": torch.tensor([[0.0, 0.0]])}
    ones = {"dense": 1.0, "sparse": 1.0, "colbert": 1.0}
    loss, parts = m3_loss(scores, 1.0, ones, ones, distill=True)
    ce_dense = math.log(1 + math.exp(-1))  # 0.3133
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    entropy = -sum(x * math.log(x) for x in p)  # 0.5822
    first = (ce_dense + math.log(2) + ce_dense) / 3
    second = (entropy + math.log(2)) / 2
    assert float(loss) == pytest.approx((first + second) / 2, abs=1e-6)
    assert float(loss) == pytest.approx(0.5388, abs=1e-4)  # the docstring's value
    assert float(parts["loss_fused"]) == pytest.approx(ce_dense, abs=1e-6)
    no_kd, _ = m3_loss(scores, 1.0, ones, ones, distill=False)
    assert float(no_kd) == pytest.approx(first, abs=1e-6)


def test_teacher_is_the_weighted_sum_and_three_heads_give_m3s_formula():
    torch.manual_seed(0)
    s = {h: torch.randn(3, 7, requires_grad=True) for h in HEADS}
    w = {"dense": 1.0, "sparse": 0.3, "colbert": 1.0}
    lam = {"dense": 1.0, "sparse": 0.1, "colbert": 1.0}
    t = 0.05
    fused = s["dense"] / t + 0.3 * s["sparse"] / t + s["colbert"] / t
    torch.testing.assert_close(fused_scores({h: x / t for h, x in s.items()}, w), fused)
    loss, parts = m3_loss(s, t, w, lam, distill=True, offset=2)
    labels = torch.arange(3) + 2
    ce = {h: torch.nn.functional.cross_entropy(x / t, labels) for h, x in s.items()}
    teacher = torch.softmax(fused.detach(), dim=-1)
    kd = {h: -(teacher * torch.log_softmax(x / t, dim=-1)).sum(-1).mean() for h, x in s.items()}
    # FlagEmbedding's EncoderOnlyEmbedderM3Model.forward, term by term
    expected = (
        ce["dense"] + torch.nn.functional.cross_entropy(fused, labels) + 0.1 * ce["sparse"] + ce["colbert"]
    ) / 4
    expected = (expected + (kd["dense"] + 0.1 * kd["sparse"] + kd["colbert"]) / 3) / 2
    torch.testing.assert_close(loss, expected)
    for h in HEADS:
        torch.testing.assert_close(parts[f"distill_{h}"], soft_cross_entropy(s[h].detach() / t, teacher))
    # the teacher is detached: the distillation terms pull each head toward it, not it toward them
    (g,) = torch.autograd.grad(kd["sparse"], s["dense"], allow_unused=True)
    assert g is None


def test_grad_cache_gives_the_full_batch_gradients_with_heads():
    """Chunked GradCache over the multi-head outputs (per-token fields of chunks cut to different
    widths) equals one full-batch backward, for the backbone and both heads."""
    from train.collator import Collator
    from train.data import Example
    from train.grad_cache import grad_cache_backward

    tok = build_tokenizer("bert")
    tok.eos_token = tok.sep_token
    rows = [
        Example(
            instruction="",
            query=f"topic{i} w{i}",
            positive=" ".join(["w1"] * (1 + 3 * i) + [f"topic{i}"]),
            negative=f"topic{i + 10} w3 w4",
        )
        for i in range(6)
    ]
    batch = Collator(tok, 32, "plain")(rows)
    loss_fn = M3StepLoss(HEADS, 0.05, (1, 0.3, 1), (1, 0.1, 1))

    def grads(chunk: int) -> dict[str, torch.Tensor]:
        model = build_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        torch.manual_seed(1)
        enc = MultiHeadEncoder(model, "mean", True, build_heads(model, tok, HEADS))
        if chunk:
            grad_cache_backward(
                lambda b: enc(b)[0], [batch.queries, batch.docs], lambda q, d: loss_fn(q, d, 6, 0), chunk
            )
        else:
            q, d = enc(batch.queries, batch.docs)
            loss_fn(q, d, 6, 0).backward()
        return {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}

    full, cached = grads(0), grads(4)
    assert {"heads.sparse_linear.weight", "heads.colbert_linear.weight"} <= full.keys()
    assert full.keys() == cached.keys()
    for n in full:
        torch.testing.assert_close(cached[n], full[n], atol=1e-5, rtol=1e-4, msg=n)


def test_reps_fields_are_what_the_step_loss_reads():
    assert Reps._fields == ("dense", "sparse", "colbert", "colbert_mask")
