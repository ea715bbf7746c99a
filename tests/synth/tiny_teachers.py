"""Tiny offline teachers for synth.mine --teacher tests: a cross-encoder (BERT with a one-logit head)
built from a config, with a word-level tokenizer that joins a pair as [CLS] A [SEP] B [SEP].
Random weights: tests check what is scored and stored, and compare with the model's own predict."""

from __future__ import annotations

from pathlib import Path

from tests.tiny_models import HIDDEN, SPECIALS, VOCAB


def write_cross_encoder_dir(
    out: Path, seed: int = 0, vocabulary: list[str] | None = None, num_labels: int = 1
) -> Path:
    """A dir that ``sentence_transformers.CrossEncoder(out)`` loads: BertForSequenceClassification
    (2 layers, hidden 32, `num_labels`) and its tokenizer, saved with transformers. `vocabulary`:
    the words it knows (default tests.tiny_models.VOCAB's), each its own token."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    vocab = (
        VOCAB
        if vocabulary is None
        else {w: i for i, w in enumerate(SPECIALS + sorted(set(vocabulary) - set(SPECIALS)))}
    )
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    cls, sep = ("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[cls, sep]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="<pad>", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(out)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=vocab["<pad>"],
        num_labels=num_labels,
        initializer_range=0.5,
    )  # spread scores apart
    BertForSequenceClassification(cfg).eval().save_pretrained(out)
    return out
