"""Tiny offline fixtures: the shared word-level tokenizer and 2-layer Mistral (tests/tiny_models.py),
and small dataset dirs in the synth layout. Nothing touches the network or the working directory."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
from pathlib import Path

import pytest

from tests.tiny_models import TOPICS, WORDS, build_mistral, build_tokenizer, write_st_dir

FILLER = WORDS[:40]  # the rows' other words; a topic word is what a query and its positive share


@pytest.fixture
def tokenizer():
    return build_tokenizer()


@pytest.fixture
def tiny_model():
    return build_mistral()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A saved tiny Mistral + tokenizer, what ``--model`` points at in CLI-level tests."""
    out = tmp_path_factory.mktemp("tiny-mistral")
    build_mistral().save_pretrained(out)
    build_tokenizer().save_pretrained(out)
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


def write_mined_dir(root: Path, rows: list[dict], num_negatives: int = 3) -> Path:
    """``python -m synth.mine`` (its main, as the CLI runs it) on a synth-layout dir of ``rows``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synth.dataset.dataset import DATA_FILE
    from synth.mining.cli import MineConfig
    from synth.mining.cli import main as mine

    src = root / "plain"
    (src / DATA_FILE).parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), src / DATA_FILE)
    cfg = MineConfig(
        data=src,
        model=str(write_st_dir(root / "st")),
        out=root / "mined",
        num_negatives=num_negatives,
        guard="none",
        progress=False,
        device="cpu",
    )
    assert mine(cfg) == 0
    return root / "mined"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def like(cfg, output: Path):
    """The reference run's flags with another output dir."""
    return dataclasses.replace(cfg, output=output, resume=False)


def losses(out: Path) -> list[float]:
    return [json.loads(x)["loss"] for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def single(tmp_path_factory, model_dir):
    """The one-process reference run of the distributed tests: global batch 8, 3 steps, dropout and
    clipping off, checkpoints at steps 2 and 3. Returns (config, root dir holding its dataset)."""
    from train.lora import main

    root = tmp_path_factory.mktemp("dist")
    data = write_dataset_dir(root / "ds", make_rows(64))
    cfg = small_config(
        model_dir, data, root / "single", lora_dropout=0.0, max_grad_norm=0.0, max_steps=3, save_steps=2
    )
    main(cfg)
    return cfg, root


def with_teacher(rows: list[dict], seed: int = 0) -> list[dict]:
    """``rows`` with teacher_scores in common.candidates' order: 2.0 for the positive, a seeded draw in
    [-1, 1) for each negative (the written one, then mined ones)."""
    from common.candidates import candidate_texts

    rng = random.Random(seed)
    out = []
    for r in rows:
        n = len(candidate_texts(r))
        out.append({**r, "teacher_scores": [2.0] + [rng.uniform(-1, 1) for _ in range(n - 1)]})
    return out
