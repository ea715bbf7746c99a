from __future__ import annotations

import pytest
import torch

from tests.tiny_models import build_mistral, build_tokenizer
from tests.train.conftest import make_rows
from train.backbone import add_lora
from train.collator import Collator
from train.data import Example
from train.grad_cache import RandState, grad_cache_backward, split
from train.losses import info_nce
from train.modeling import Encoder


def _setup(dropout: float):
    tok = build_tokenizer()
    torch.manual_seed(0)
    enc = Encoder(add_lora(build_mistral(), r=4, alpha=8, dropout=dropout, target="all-linear"), "last")
    # Non-zero LoRA B so the adapter takes part in the forward pass (peft initialises B to 0).
    with torch.no_grad():
        for n, p in enc.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    rows = [
        Example(**{k: r[k] for k in ("instruction", "query", "positive", "negative")}) for r in make_rows(8)
    ]
    return enc, Collator(tok, max_length=24)(rows)


def _grads(enc) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in enc.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_grad_cache_matches_full_batch_loss_and_gradients(chunk):
    enc, batch = _setup(dropout=0.0)
    enc.train()
    qe, de = enc(batch.queries, batch.docs)  # (8, H), (12, H)
    full = info_nce(qe, de, 0.02)
    full.backward()
    expected = _grads(enc)
    enc.zero_grad()

    cached = grad_cache_backward(
        lambda b: enc(b)[0], [batch.queries, batch.docs], lambda q, d: info_nce(q, d, 0.02), chunk
    )
    torch.testing.assert_close(cached, full.detach(), atol=1e-5, rtol=1e-5)
    got = _grads(enc)
    assert expected.keys() == got.keys() and len(got) > 0
    for n in expected:
        torch.testing.assert_close(got[n], expected[n], atol=1e-5, rtol=1e-4, msg=n)


def test_rand_state_replays_dropout_masks_for_the_second_pass():
    enc, batch = _setup(dropout=0.5)
    enc.train()
    state = RandState()
    first = enc(batch.docs)[0]
    other = enc(batch.docs)[0]  # fresh masks: differs
    with state:
        again = enc(batch.docs)[0]
    assert not torch.allclose(first, other)
    torch.testing.assert_close(first, again)


def test_split_trims_trailing_padding_only():
    b = {
        "input_ids": torch.arange(8).reshape(2, 4),
        "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]]),
    }
    a, c = split(b, 1)
    assert a["input_ids"].shape == (1, 2) and c["input_ids"].shape == (1, 3)
    left = {"input_ids": torch.zeros(1, 4, dtype=torch.long), "attention_mask": torch.tensor([[0, 0, 1, 1]])}
    assert split(left, 1)[0]["input_ids"].shape == (1, 4)
