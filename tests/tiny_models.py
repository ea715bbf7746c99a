"""Tiny offline models for tests/train and tests/eval: one word-level vocabulary, a 2-layer Mistral
(hidden 32), a 2-layer BERT and the sentence-transformers layout around it. Built from configs with
random weights; nothing touches the network or the working directory.

Every test text is made of the vocabulary's words, so distinct texts are distinct token sequences
(no [UNK] collisions that would create ties in rankings). Not a conftest: import what you need.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["[UNK]", "<pad>", "<s>", "</s>", "[CLS]", "[SEP]"]  # ids 0..5: pad 1, BOS 2, EOS 3
EXTRA = [
    *("Instruct", "Query", ":"),  # the query format's own words
    *("find", "the", "passage", "about", "text", "on", "hello", "world", "what", "is", "of"),
    *("passkey", "'s", "."),  # eval's passkey documents: "NAME's passkey is N."
    *("a", "b", "c", "d", "e"),
]
TOPICS = [f"topic{i}" for i in range(24)]  # train's learnable rows: a query and its positive share one
WORDS = [f"w{i}" for i in range(120)]
VOCAB = {w: i for i, w in enumerate(SPECIALS + EXTRA + TOPICS + WORDS)}
HIDDEN = 32


def build_tokenizer(
    kind: str = "mistral", *, eos: bool = True, bos: bool = False, padding_side: str = "right"
):
    """A PreTrainedTokenizerFast over VOCAB, whitespace/punctuation pre-tokenizer.

    ``mistral``: no post-processor (adds nothing), pad ``<pad>``, EOS ``</s>`` unless ``eos=False``,
    BOS ``<s>`` declared when ``bos=True``. ``bert``: wraps every input in [CLS] ... [SEP] and has no
    EOS, like BERT's (train lets [SEP] play EOS)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if kind == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", VOCAB["[CLS]"]), ("[SEP]", VOCAB["[SEP]"])]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="<pad>", cls_token="[CLS]", sep_token="[SEP]"
        )
    if kind != "mistral":
        raise ValueError(f"kind {kind!r}: valid kinds are mistral, bert")
    kwargs = {"unk_token": "[UNK]", "pad_token": "<pad>", "padding_side": padding_side}
    if eos:
        kwargs["eos_token"] = "</s>"
    if bos:
        kwargs["bos_token"] = "<s>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def build_mistral(seed: int = 0, *, causal_lm: bool = False, **overrides):
    """A 2-layer Mistral-shaped backbone (AutoModel; with ``causal_lm``, the LM head too), random weights
    drawn after ``torch.manual_seed(seed)``. RoPE, so no learned positions cap the length."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, MistralConfig

    torch.manual_seed(seed)
    cfg = dict(
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(VOCAB),
        max_position_embeddings=4096,
        pad_token_id=VOCAB["<pad>"],
        eos_token_id=VOCAB["</s>"],
        bos_token_id=VOCAB["<s>"],
    )
    cfg.update(overrides)
    auto = AutoModelForCausalLM if causal_lm else AutoModel
    return auto.from_config(MistralConfig(**cfg), attn_implementation="sdpa")


def build_bert(seed: int = 0, **overrides):
    """A 2-layer BERT encoder (128 learned positions unless overridden), random weights after
    ``torch.manual_seed(seed)``."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = dict(
        vocab_size=len(VOCAB),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=VOCAB["<pad>"],
    )
    cfg.update(overrides)
    return BertModel(BertConfig(**cfg))


def write_st_dir(out: Path, seed: int = 0, max_seq_length: int = 64) -> Path:
    """A tiny BERT that ``SentenceTransformer(out)`` loads: Transformer -> mean Pooling -> Normalize."""
    out.mkdir(parents=True, exist_ok=True)
    build_bert(seed).eval().save_pretrained(out)
    build_tokenizer("bert").save_pretrained(out)
    parts = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(parts)
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False})
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": False,
    }
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (out / "2_Normalize").mkdir(exist_ok=True)
    return out
