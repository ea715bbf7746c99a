"""Tiny offline models and data for the eval tests; nothing touches the network or the working dir.

* ``our_model_dir``: a 2-layer Mistral (hidden 32) with random weights, a word-level tokenizer built
  here, and ``synthembed.json`` as train's export writes it (last-token pooling, EOS appended).
* ``st_model_dir``: a 2-layer BERT in the sentence-transformers layout (mean pooling + Normalize).
* ``beir_dir`` / ``sts_file``: small data sets over the tokenizer's vocabulary, so distinct texts
  are distinct token sequences (no [UNK] collisions that would create ties in rankings).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from common.query_format import QUERY_TEMPLATE

WORDS = [f"w{i}" for i in range(120)]
EXTRA = [
    "Instruct",
    "Query",
    ":",
    "find",
    "the",
    "passage",
    "about",
    "text",
    "what",
    "is",
    "passkey",
    "of",
    "'s",
    ".",
]
SPECIALS = ["[UNK]", "<pad>", "<s>", "</s>", "[CLS]", "[SEP]"]
VOCAB = {w: i for i, w in enumerate(SPECIALS + EXTRA + WORDS)}


def build_tokenizer(kind: str = "mistral", padding_side: str = "right"):
    """Word-level tokenizer; ``bert`` wraps every input in [CLS] ... [SEP] like BERT's."""
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
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="<pad>",
        eos_token="</s>",
        padding_side=padding_side,
    )


def build_mistral(seed: int = 0, **overrides):
    import torch
    from transformers import AutoModel, MistralConfig

    torch.manual_seed(seed)
    cfg = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(VOCAB),
        max_position_embeddings=4096,
        pad_token_id=VOCAB["<pad>"],
        eos_token_id=VOCAB["</s>"],
    )
    cfg.update(overrides)
    return AutoModel.from_config(MistralConfig(**cfg)).eval()


def write_our_model_dir(out: Path, padding_side: str = "right", **spec) -> Path:
    """A model dir in the layout train's export writes (root HF model + tokenizer + synthembed.json)."""
    out.mkdir(parents=True, exist_ok=True)
    build_mistral().save_pretrained(out)
    build_tokenizer(padding_side=padding_side).save_pretrained(out)
    meta = {
        "format_version": 1,
        "pooling": "last",
        "query_template": QUERY_TEMPLATE,
        "max_length": 512,
        "normalize": True,
        "add_eos": True,
        "base_model": "tiny-mistral",
        **spec,
    }
    (out / "synthembed.json").write_text(json.dumps(meta))
    return out


@pytest.fixture(scope="session")
def our_model_dir(tmp_path_factory) -> Path:
    return write_our_model_dir(tmp_path_factory.mktemp("our-model"))


@pytest.fixture(scope="session")
def st_model_dir(tmp_path_factory) -> Path:
    """A tiny BERT that ``SentenceTransformer(dir)`` loads: Transformer -> mean Pooling -> Normalize."""
    import torch
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("st-model")
    torch.manual_seed(1)
    cfg = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=VOCAB["<pad>"],
    )
    BertModel(cfg).eval().save_pretrained(out)
    build_tokenizer("bert").save_pretrained(out)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_cls_token": False,
            }
        )
    )
    (out / "2_Normalize").mkdir()
    return out


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi)))


def write_beir(root: Path, n_docs: int = 150, n_queries: int = 12, seed: int = 0) -> Path:
    """corpus.jsonl (with titles on some docs), queries.jsonl, qrels/test.tsv with graded judgements."""
    rng = random.Random(seed)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w") as f:
        for i in range(n_docs):
            title = sentence(rng, 1, 3) if i % 3 == 0 else ""
            f.write(json.dumps({"_id": f"d{i}", "title": title, "text": sentence(rng, 3, 40)}) + "\n")
    with (root / "queries.jsonl").open("w") as f:
        for i in range(n_queries + 2):  # two queries without judgements: both evaluators skip them
            f.write(json.dumps({"_id": f"q{i}", "text": sentence(rng, 2, 6)}) + "\n")
    with (root / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i in range(n_queries):
            for d in rng.sample(range(n_docs), rng.randint(1, 4)):
                f.write(f"q{i}\td{d}\t{rng.choice([1, 1, 2])}\n")
    return root


@pytest.fixture
def beir_dir(tmp_path) -> Path:
    return write_beir(tmp_path / "beir")


def write_sts(path: Path, n: int = 40, seed: int = 0, sep: str = "\t") -> Path:
    rng = random.Random(seed)
    lines = [sep.join(["sentence1", "sentence2", "score"])]
    for _ in range(n):
        lines.append(sep.join([sentence(rng, 3, 12), sentence(rng, 3, 12), f"{rng.uniform(0, 5):.2f}"]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def sts_file(tmp_path) -> Path:
    return write_sts(tmp_path / "pairs.tsv")
