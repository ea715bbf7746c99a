"""The candidate order teacher_scores follow (common.candidates), written once for synth and train."""

from __future__ import annotations

import math

import pytest

from common.candidates import CANDIDATE_ORDER, candidate_texts, score_problem, scores_by_text


def test_order_is_positive_negative_mined():
    row = {"positive": "P", "negative": "N", "mined_negatives": ["M1", "M2"]}
    assert candidate_texts(row) == ["P", "N", "M1", "M2"]
    assert CANDIDATE_ORDER == "positive,negative,mined_negatives"


@pytest.mark.parametrize("negative", [None, "", "  "])
def test_missing_or_empty_negative_is_no_candidate(negative):
    assert candidate_texts({"positive": "P", "negative": negative, "mined_negatives": ["M1"]}) == ["P", "M1"]
    assert candidate_texts({"positive": "P", "negative": negative}) == ["P"]


def test_repeats_keep_their_index_and_first_score_wins():
    row = {"positive": "P", "negative": "N", "mined_negatives": ["N", "M"], "teacher_scores": [3, 1, 0.5, -2]}
    assert candidate_texts(row) == ["P", "N", "N", "M"]
    assert scores_by_text(row) == {"P": 3.0, "N": 1.0, "M": -2.0}
    assert score_problem(row) is None


@pytest.mark.parametrize(
    ("scores", "words"),
    [
        ([1.0], "has 1 scores but the row has 2 candidates"),
        ("1,2", "must be a list"),
        ([1.0, math.nan], "finite"),
        ([1.0, True], "finite"),
    ],
)
def test_bad_scores_are_named(scores, words):
    assert words in score_problem({"positive": "P", "negative": "N", "teacher_scores": scores})


def test_no_scores_is_no_problem():
    assert score_problem({"positive": "P"}) is None
    assert scores_by_text({"positive": "P"}) == {}
