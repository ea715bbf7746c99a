"""Tiny offline fixtures: a word-level tokenizer trained here, a 2-layer Mistral built from a config,
and small dataset dirs in the synth layout. Nothing touches the network or the working directory."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

# Topic words of the learnable data set: a query about a topic has a positive that shares it.
TOPICS = [f"topic{i}" for i in range(24)]
FILLER = [f"w{i}" for i in range(40)]
EXTRA = [
    "Instruct",
    "Query",
    ":",
    "find",
    "the",
    "passage",
    "about",
    "text",
    "on",
    "hello",
    "world",
    "a",
    "b",
    "c",
    "d",
    "e",
]
SPECIALS = ["[UNK]", "<pad>", "<s>", "</s>"]


def build_tokenizer(eos: bool = True, bos: bool = False):
    """A PreTrainedTokenizerFast over a fixed word list; whitespace/punctuation pre-tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + EXTRA + TOPICS + FILLER)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    kwargs = {"pad_token": "<pad>", "unk_token": "[UNK]"}
    if eos:
        kwargs["eos_token"] = "</s>"
    if bos:
        kwargs["bos_token"] = "<s>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def build_model(vocab_size: int, seed: int = 0, **overrides):
    """A 2-layer Mistral-shaped backbone (hidden 32) with random weights."""
    import torch
    from transformers import AutoModel, MistralConfig

    torch.manual_seed(seed)
    cfg = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=256,
        pad_token_id=1,
        eos_token_id=3,
        bos_token_id=2,
    )
    cfg.update(overrides)
    return AutoModel.from_config(MistralConfig(**cfg), attn_implementation="sdpa")


@pytest.fixture
def tokenizer():
    return build_tokenizer()


@pytest.fixture
def tiny_model(tokenizer):
    return build_model(len(tokenizer))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A saved tiny Mistral + tokenizer, what ``--model`` points at in CLI-level tests."""
    out = tmp_path_factory.mktemp("tiny-mistral")
    tok = build_tokenizer()
    build_model(len(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def make_rows(n: int, seed: int = 0, negatives: bool = True) -> list[dict]:
    """Learnable rows: query and positive share a topic word; the hard negative has another topic."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t, other = rng.sample(TOPICS, 2)
        q = " ".join([t] + rng.sample(FILLER, 3))
        pos = " ".join(rng.sample(FILLER, 4) + [t] + rng.sample(FILLER, 2))
        neg = " ".join(rng.sample(FILLER, 4) + [other] + rng.sample(FILLER, 2))
        rows.append(
            {
                "id": f"row{seed}-{i}",
                "task_type": "retrieval",
                "instruction": "find the passage about the text",
                "query": q,
                "positive": pos,
                "negative": neg if negatives and i % 2 == 0 else None,
                "language": "en",
                "language_pair": None,
                "model": "test",
                "source": "synthetic",
            }
        )
    return rows


def write_dataset_dir(root: Path, rows: list[dict], fmt: str = "jsonl") -> Path:
    """A dataset dir in the synth layout (data/*.jsonl or data/*.parquet)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with open(data / "train-00000.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), data / "train-00000.parquet")
    return root


@pytest.fixture
def dataset_dir(tmp_path) -> Path:
    return write_dataset_dir(tmp_path / "ds", make_rows(64))


def small_config(model_dir: Path, data: Path | list[Path], output: Path, **overrides):
    """A TrainConfig sized for a CPU test: small global batch, short sequences, no warm-up."""
    from train.config import TrainConfig

    data = data if isinstance(data, list) else [data]
    kw = dict(
        model=str(model_dir),
        data=[str(d) for d in data],
        output=output,
        batch_size=8,
        max_steps=3,
        lr=1e-3,
        warmup_steps=0,
        max_length=24,
        save_steps=0,
        temperature=0.05,
        seed=0,
    )
    kw.update(overrides)
    return TrainConfig(**kw)


def cli_args(cfg) -> list[str]:
    """The same config as command-line flags (every field that differs from its default)."""
    import dataclasses

    args: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "data":
            args += [x for d in value for x in ("--data", str(d))]
        elif f.name == "output":
            args += [flag, str(value)]
        elif value == f.default:
            continue
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is not None:
            args += [flag, str(value)]
    return args


def write_tiny_st(out: Path) -> Path:
    """A 2-layer BERT over the tokenizer's words in the sentence-transformers layout (mean pooling,
    Normalize): the embedder ``synth.mine`` needs to mine a dataset dir in these tests."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + ["[CLS]", "[SEP]"] + EXTRA + TOPICS + FILLER)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="<pad>", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(out)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=vocab["<pad>"])  # fmt: skip
    BertModel(cfg).eval().save_pretrained(out)
    modules = [{"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
               for i, (path, kind) in enumerate([("", "Transformer"), ("1_Pooling", "Pooling"),
                                                 ("2_Normalize", "Normalize")])]  # fmt: skip
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    (out / "2_Normalize").mkdir()
    return out


def write_mined_dir(root: Path, rows: list[dict], num_negatives: int = 3) -> Path:
    """``python -m synth.mine`` (its main, as the CLI runs it) on a synth-layout dir of ``rows``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synth.dataset import DATA_FILE
    from synth.mining.cli import MineConfig
    from synth.mining.cli import main as mine

    src = root / "plain"
    (src / DATA_FILE).parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), src / DATA_FILE)
    cfg = MineConfig(data=src, model=str(write_tiny_st(root / "st")), out=root / "mined",
                     num_negatives=num_negatives, guard="none", progress=False, device="cpu")  # fmt: skip
    assert mine(cfg) == 0
    return root / "mined"
