from __future__ import annotations

import pytest
import torch

from train.pooling import last_token_pool, mean_pool, pool


def test_last_token_pool_left_and_right_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)  # (B, T, H)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert torch.equal(last_token_pool(hidden, right), torch.stack([hidden[0, 2], hidden[1, 1]]))
    assert torch.equal(last_token_pool(hidden, left), torch.stack([hidden[0, 3], hidden[1, 3]]))


def test_same_embedding_whichever_padding_side(tokenizer, tiny_model):
    """The trainer's pooled EOS state does not depend on which side the batch was padded."""
    from train.inputs import tokenize
    from train.modeling import embed

    texts = ["hello world a b c", "a"]
    tiny_model.eval()
    with torch.no_grad():
        tokenizer.padding_side = "right"
        r = embed(tiny_model, tokenize(tokenizer, texts, 16), "last")
        tokenizer.padding_side = "left"
        batch = tokenize(tokenizer, texts, 16)
        assert batch["input_ids"][1, -1] == tokenizer.eos_token_id  # left padded: EOS is last column
        left = embed(tiny_model, batch, "last")
        alone = embed(tiny_model, tokenize(tokenizer, texts[1:], 16), "last")
    torch.testing.assert_close(r, left, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(r[1], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(r.norm(dim=-1), torch.ones(2))


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])  # (1, 3, 1)
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).item() == 2.0


def test_pool_rejects_unknown_mode():
    with pytest.raises(ValueError, match="valid: last, mean"):
        pool(torch.zeros(1, 2, 3), torch.ones(1, 2), "cls")


def test_config_knows_the_same_pooling_modes():
    from train.config import POOLING_MODES as flag_modes
    from train.pooling import POOLING_MODES

    assert flag_modes == POOLING_MODES


def test_query_format_flag_choices_equal_the_inputs_formats():
    from train.config import QUERY_FORMATS as flag_formats
    from train.inputs import QUERY_FORMATS

    assert flag_formats == QUERY_FORMATS
