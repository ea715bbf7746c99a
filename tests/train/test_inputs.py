from __future__ import annotations

import pytest

from tests.train.conftest import build_tokenizer
from train.inputs import QUERY_TEMPLATE, format_query, tokenize


def test_query_format():
    assert QUERY_TEMPLATE == "Instruct: {instruction}\nQuery: {query}"
    assert format_query("find it", "cats") == "Instruct: find it\nQuery: cats"


@pytest.mark.parametrize("side", ["left", "right"])
def test_eos_survives_truncation(side):
    tok = build_tokenizer()
    tok.padding_side = side
    batch = tokenize(tok, ["a b c d e", "a"], max_length=4)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == (2, 4)
    a, b, c, eos = (tok.convert_tokens_to_ids(t) for t in ["a", "b", "c", "</s>"])
    assert ids[0].tolist() == [a, b, c, eos]  # three words kept, the EOS never cut
    real = ids[1][mask[1].bool()].tolist()
    assert real == [a, eos]
    assert (mask[1].tolist() == [0, 0, 1, 1]) if side == "left" else (mask[1].tolist() == [1, 1, 0, 0])


def test_bos_kept_when_tokenizer_adds_one():
    from tokenizers.processors import TemplateProcessing

    tok = build_tokenizer(bos=True)
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    ids = tokenize(tok, ["a b c"], max_length=3)["input_ids"][0].tolist()
    assert ids == [2, tok.convert_tokens_to_ids("a"), tok.eos_token_id]


def test_tokenizer_that_would_add_eos_gets_exactly_one():
    """A tokenizer whose own post-processor appends EOS must not end up with two."""
    from tokenizers.processors import TemplateProcessing

    tok = build_tokenizer()
    tok._tokenizer.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3)])
    ids = tokenize(tok, ["a b"], max_length=8)["input_ids"][0].tolist()
    assert ids.count(tok.eos_token_id) == 1 and ids[-1] == tok.eos_token_id


def test_tokenizer_without_eos_is_refused():
    with pytest.raises(ValueError, match="has no EOS token"):
        tokenize(build_tokenizer(eos=False), ["a"], max_length=8)
