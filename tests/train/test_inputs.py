from __future__ import annotations

import pytest

from common.query_format import QUERY_TEMPLATE, format_query
from tests.tiny_models import build_tokenizer
from train.inputs import tokenize


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


def llama_tokenizer():
    """A transformers LlamaTokenizer (Mistral's kind) over a 56-piece vocab: adds BOS, never EOS."""
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab["▁" + c] = len(vocab)
    return LlamaTokenizer(vocab=vocab, merges=[], add_bos_token=True)


def test_llama_style_tokenizer_drops_eos_and_we_add_it_back(tmp_path):
    """The trap: Mistral's tokenizer ends a sequence in the last word. Our inputs end in EOS, and the
    exported tokenizer gives sentence-transformers/vLLM exactly our ids after a save and reload."""
    from transformers import AutoTokenizer

    from train.export import export_tokenizer

    tok = llama_tokenizer()
    own = tok("a b c")["input_ids"]
    assert own[0] == tok.bos_token_id and own[-1] != tok.eos_token_id  # the tokenizer alone: no EOS
    ours = tokenize(tok, ["a b c"], max_length=64)["input_ids"][0].tolist()
    assert ours == own + [tok.eos_token_id]  # BOS kept, EOS added once
    assert tokenize(tok, ["a b c d e f"], max_length=4)["input_ids"][0].tolist()[-1] == tok.eos_token_id
    export_tokenizer(tok, tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)("a b c")["input_ids"] == ours
