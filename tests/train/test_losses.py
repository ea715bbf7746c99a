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
