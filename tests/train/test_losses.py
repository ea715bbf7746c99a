from __future__ import annotations

import math

import pytest
import torch

from train.losses import info_nce


def test_info_nce_worked_example_from_docstring():
    q = torch.tensor([[1.0, 0.0]])
    d = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert info_nce(q, d, temperature=1.0).item() == pytest.approx(
        math.log(1 + math.exp(-1)), abs=1e-6
    )  # 0.3133


def test_info_nce_equals_hand_computed_value_with_temperature_and_hard_negatives():
    """Two queries, two positives and one hard negative; temperature 0.5 means logits = cosine * 2."""
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = torch.tensor([[0.6, 0.8], [0.8, 0.6], [1.0, 0.0]])  # pos of q0, pos of q1, hard negative
    # q0 scores: 0.6, 0.8, 1.0 (positive is 0.6); q1 scores: 0.8, 0.6, 0.0 (positive is 0.6)
    l0 = -math.log(math.exp(1.2) / (math.exp(1.2) + math.exp(1.6) + math.exp(2.0)))
    l1 = -math.log(math.exp(1.2) / (math.exp(1.6) + math.exp(1.2) + math.exp(0.0)))
    assert info_nce(q, d, temperature=0.5).item() == pytest.approx((l0 + l1) / 2, abs=1e-6)


def test_offset_picks_positives_further_down_the_candidate_list():
    torch.manual_seed(0)
    q, d = torch.randn(2, 4), torch.randn(6, 4)
    expected = torch.nn.functional.cross_entropy(q @ d.T / 0.02, torch.tensor([2, 3]))
    assert info_nce(q, d, 0.02, offset=2).item() == pytest.approx(expected.item(), rel=1e-6)


def test_lower_temperature_sharpens():
    q = torch.tensor([[1.0, 0.0]])
    d = torch.tensor([[0.9, 0.43589], [0.5, 0.866]])
    assert info_nce(q, d, 0.02) < info_nce(q, d, 1.0)


def test_bad_temperature_and_missing_positives_raise():
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.ones(1, 2), torch.ones(1, 2), 0.0)
    with pytest.raises(ValueError, match="positives"):
        info_nce(torch.ones(3, 2), torch.ones(2, 2), 0.02)


def test_candidates_loss_scores_one_rank_against_every_rank_s_documents():
    """Rank 1 of 2 (one query each): its positive is the second of the gathered positives, and the
    other rank's positive and the hard negative compete with it; temperature 0.5 doubles the cosines."""
    from train.distributed import gather_candidates
    from train.losses import LOSSES, Candidates

    q = torch.tensor([[1.0, 0.0]])
    c = Candidates(
        q, positives=torch.tensor([[0.0, 1.0], [0.6, 0.8]]), negatives=torch.tensor([[1.0, 0.0]]), offset=1
    )
    # scores: rank 0's positive 0.0, own positive 0.6, hard negative 1.0
    expected = -math.log(math.exp(1.2) / (math.exp(0.0) + math.exp(1.2) + math.exp(2.0)))
    assert LOSSES["info_nce"](c, 0.5).item() == pytest.approx(expected, abs=1e-6)
    # One process: the candidates are the local documents as they are, positives first.
    d = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    alone = gather_candidates(q, d, n_pos=1)
    assert alone.offset == 0 and torch.equal(alone.positives, d[:1]) and torch.equal(alone.negatives, d[1:])
    assert LOSSES["info_nce"](alone, 0.5).item() == pytest.approx(info_nce(q, d, 0.5).item(), abs=1e-7)


# -- kd and margin_mse ---------------------------------------------------------------------------------
def test_kd_worked_example_from_docstring():
    from train.losses import kd_kl

    pt, ps = (
        [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)],
        [math.e / (math.e + 1), 1 / (math.e + 1)],
    )
    by_hand = sum(t * math.log(t / s) for t, s in zip(pt, ps, strict=True))
    got = kd_kl(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([[True, True]]), 1.0, 1.0
    )
    assert got.item() == pytest.approx(by_hand, abs=1e-6) and by_hand == pytest.approx(0.0671, abs=1e-4)


def test_kd_temperatures_divide_both_sides_and_padding_is_ignored():
    """Temperature 0.5 doubles the student's scores, teacher temperature 2 halves the teacher's; a
    padded column changes nothing, and a row with only its positive adds 0 to the mean."""
    from train.losses import kd_kl

    student = torch.tensor([[0.5, 0.0, 9.0], [0.3, 7.0, 7.0]])
    teacher = torch.tensor([[4.0, 0.0, -9.0], [1.0, 5.0, 5.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    by_hand = kd_kl(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.ones(1, 2, dtype=torch.bool), 1, 1
    )
    got = kd_kl(student, teacher, mask, temperature=0.5, teacher_temperature=2.0)
    assert got.item() == pytest.approx(by_hand.item() / 2, abs=1e-6)  # row 2 contributes 0 to the mean of 2


def test_kd_value_and_gradient_equal_torch_kl_div():
    from train.losses import kd_kl

    torch.manual_seed(0)
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5)
    ours = kd_kl(s, t, torch.ones(4, 5, dtype=torch.bool), 0.05, 2.0)
    (g_ours,) = torch.autograd.grad(ours, s)
    ref = torch.nn.functional.kl_div(
        torch.log_softmax(s / 0.05, -1), torch.softmax(t / 2.0, -1), reduction="batchmean"
    )
    (g_ref,) = torch.autograd.grad(ref, s)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(g_ours, g_ref, atol=1e-6)


def test_margin_mse_worked_example_and_per_query_mean():
    from train.losses import margin_mse

    s, t = torch.tensor([[0.9, 0.5, 0.7]]), torch.tensor([[3.0, 1.0, 2.0]])
    assert margin_mse(s, t, torch.ones(1, 3, dtype=torch.bool), 1.0, 1.0).item() == pytest.approx(
        1.6, abs=1e-6
    )
    # Row 2 has one negative: its loss is its one squared error, and the loss the mean of the rows.
    s2 = torch.tensor([[0.9, 0.5, 0.7], [0.2, 0.1, 0.0]])
    t2 = torch.tensor([[3.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    row2 = ((0.2 - 0.1) / 0.5 - (1.0 - 0.0) / 2.0) ** 2
    row1 = (((0.4 / 0.5) - 1.0) ** 2 + ((0.2 / 0.5) - 0.5) ** 2) / 2
    assert margin_mse(s2, t2, mask, 0.5, 2.0).item() == pytest.approx((row1 + row2) / 2, abs=1e-6)


def test_margin_mse_gradient_equals_mse_of_margins():
    """The formula GPL and sentence-transformers' MarginMSELoss write, F.mse_loss of stacked margins,
    gives our value and gradients on full rows (the slow test below runs MarginMSELoss itself)."""
    from train.losses import margin_mse

    torch.manual_seed(3)
    s = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 3)
    ours = margin_mse(s, t, torch.ones(4, 3, dtype=torch.bool), 0.05, 2.0)
    ref = torch.nn.functional.mse_loss((s[:, :1] - s[:, 1:]) / 0.05, (t[:, :1] - t[:, 1:]) / 2.0)
    (g_ours,), (g_ref,) = torch.autograd.grad(ours, s), torch.autograd.grad(ref, s)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6) and torch.allclose(g_ours, g_ref, atol=1e-5)


@pytest.mark.slow  # importing sentence-transformers alone takes over a minute on a busy 2-core box
def test_margin_mse_value_and_gradient_equal_sentence_transformers():
    """sentence-transformers' MarginMSELoss (dot product, one label column per negative) on the same
    embeddings: same value and same gradients with respect to query and document embeddings."""
    losses = pytest.importorskip("sentence_transformers.losses")
    from train.losses import Candidates, candidates_margin_mse

    torch.manual_seed(1)
    q, pos, neg1, neg2 = (
        torch.nn.functional.normalize(torch.randn(3, 8), dim=-1).requires_grad_() for _ in range(4)
    )
    t = torch.randn(3, 3)  # teacher scores of (pos, neg1, neg2)

    class Given(torch.nn.Module):  # ST calls model(features)["sentence_embedding"]
        def forward(self, features):
            return {"sentence_embedding": features["emb"]}

    ref = losses.MarginMSELoss(Given())
    labels = torch.stack([t[:, 0] - t[:, 1], t[:, 0] - t[:, 2]], dim=1)
    ref_value = ref([{"emb": x} for x in (q, pos, neg1, neg2)], labels)
    ref_grads = torch.autograd.grad(ref_value, [q, pos, neg1, neg2])
    own = torch.tensor([[0, 3, 6], [1, 4, 7], [2, 5, 8]])  # docs = [pos(3), neg1(3), neg2(3)]
    c = Candidates(q, pos, torch.cat([neg1, neg2]), own=own, teacher=t)
    ours = candidates_margin_mse(c, temperature=1.0, teacher_temperature=1.0)
    grads = torch.autograd.grad(ours, [q, pos, neg1, neg2])
    assert ours.item() == pytest.approx(ref_value.item(), rel=1e-6)
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_kd_candidates_pick_own_documents_and_add_alpha_info_nce():
    """own indexes [positives] + [negatives]; another rank's positive can be a query's own candidate."""
    from train.losses import Candidates, candidates_info_nce, candidates_kd, kd_kl

    q = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[0.0, 1.0], [0.6, 0.8]])  # rank 0's positive, ours (offset 1)
    neg = torch.tensor([[0.8, 0.6]])
    own = torch.tensor([[1, 2, 0]])  # our positive, the hard negative, rank 0's positive
    t = torch.tensor([[2.0, 1.0, -1.0]])
    c = Candidates(q, pos, neg, offset=1, own=own, teacher=t)
    kl = kd_kl(torch.tensor([[0.6, 0.8, 0.0]]), t, torch.ones(1, 3, dtype=torch.bool), 0.5, 1.0)
    want = kl + 0.2 * candidates_info_nce(c, 0.5)
    assert candidates_kd(c, 0.5, teacher_temperature=1.0, kd_alpha=0.2).item() == pytest.approx(
        want.item(), abs=1e-6
    )
    assert candidates_kd(c, 0.5, kd_alpha=0.0).item() == pytest.approx(kl.item(), abs=1e-6)
    with pytest.raises(ValueError, match="teacher"):
        candidates_kd(Candidates(q, pos, neg, offset=1), 0.5)


def test_matryoshka_sums_the_loss_over_renormalised_prefixes():
    from train.losses import Candidates, build_loss, info_nce

    torch.manual_seed(2)
    q = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    d = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    c = Candidates(q, d, d[:0])
    cut = lambda x, k: torch.nn.functional.normalize(x[:, :k], dim=-1)  # noqa: E731
    want = (
        info_nce(q, d, 0.1)
        + 0.5 * info_nce(cut(q, 4), cut(d, 4), 0.1)
        + 0.25 * info_nce(cut(q, 2), cut(d, 2), 0.1)
    )
    got = build_loss("info_nce", 0.1, matryoshka_dims=[8, 4, 2], matryoshka_weights=[1, 0.5, 0.25])(c)
    assert got.item() == pytest.approx(want.item(), abs=1e-6)
    assert build_loss("info_nce", 0.1)(c).item() == pytest.approx(info_nce(q, d, 0.1).item(), abs=1e-7)
    with pytest.raises(ValueError, match="not one of"):
        build_loss("triplet", 0.1)


def test_config_names_the_losses_train_losses_defines():
    from train import config, losses

    assert config.LOSS_NAMES == tuple(losses.LOSSES) and config.TEACHER_LOSSES == losses.TEACHER_LOSSES
