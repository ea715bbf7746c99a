"""Tiny offline models and data for the eval tests; nothing touches the network or the working dir.

* ``our_model_dir``: the shared 2-layer Mistral and word-level tokenizer (tests/tiny_models.py) with
  ``synthembed.json`` as train's export writes it (last-token pooling, EOS appended).
* ``st_model_dir``: the shared 2-layer BERT in the sentence-transformers layout (mean pooling + Normalize).
* ``beir_dir`` / ``sts_file``: small data sets over the tokenizer's vocabulary, so distinct texts
  are distinct token sequences (no [UNK] collisions that would create ties in rankings).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from common.query_format import QUERY_TEMPLATE
from tests.tiny_models import WORDS, build_mistral, build_tokenizer, write_st_dir


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
    return write_st_dir(tmp_path_factory.mktemp("st-model"), seed=1)


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
