"""The stages of `synth.adapt`, in order, each resumable: rerunning a stage continues it.

    corpus   -> RUN/corpus/      passages.jsonl (chunked), split.json (documents: train | held_out)
    generate -> RUN/data/        grounded rows over every passage (synth.generate --corpus)
    judge    -> RUN/judged/      with --judge: scored or relabelled rows (synth.judge)
    split    -> RUN/train/       training rows (train documents only); RUN/eval/: held-out BEIR dir
    mine     -> RUN/mined/       hard negatives from the training passages (synth.mine --corpus)
    train    -> RUN/model/       the tuned embedder (train.lora)
    evaluate -> RUN/results/     base.json, tuned.json (eval.retrieval on RUN/eval, before and after)
    report   -> RUN/report.md, report.json, report.png

Stages of later packages run as child processes (`synth.adapt.child`); each is the command a user
could run alone, and the pipeline's log of it is RUN/logs/STAGE.log.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from synth.adapt.child import module_command
from synth.adapt.config import AdaptConfig
from synth.adapt.split import leaked, split_rows
from synth.corpus import load_corpus, load_passages, save_passages, split_documents, write_beir
from synth.dataset.dataset import read_rows, write_json, write_rows

SPLIT_FILE = "split.json"
PASSAGES_FILE = "passages.jsonl"
TRAIN_PASSAGES = "train_passages.jsonl"
EVAL_KS = "1,3,5,10,100"


@dataclass(frozen=True)
class Paths:
    root: Path

    def __getattr__(
        self, name: str
    ) -> Path:  # corpus, data, judged, train, eval, mined, model, results, logs
        return self.root / name

    @property
    def state(self) -> Path:
        return self.root / "adapt.json"

    @property
    def rows(self) -> Path:
        """The generated rows the split reads: judged ones when a judge ran."""
        return self.root / ("judged" if (self.root / "judged" / "stats.json").exists() else "data")


class StageError(Exception):
    """A stage failed; one line naming it and why (the log holds the rest)."""


# ---- in-process stages ----------------------------------------------------------------------------
def prepare_corpus(cfg: AdaptConfig, paths: Paths) -> dict:
    corpus = load_corpus(cfg.corpus, chunk_tokens=cfg.chunk_tokens)
    train_docs, held_out_docs = split_documents(corpus, cfg.held_out, cfg.seed)
    paths.corpus.mkdir(parents=True, exist_ok=True)
    save_passages(corpus, paths.corpus / PASSAGES_FILE)
    side = {d: "train" for d in train_docs} | {d: "held_out" for d in held_out_docs}
    write_json(paths.corpus / SPLIT_FILE, {"seed": cfg.seed, "held_out": cfg.held_out, "documents": side})
    train = [p for p in corpus.passages if side[p.doc_id] == "train"]
    save_passages(type(corpus)(train), paths.corpus / TRAIN_PASSAGES)
    return {
        "documents": len(side),
        "held_out_documents": len(held_out_docs),
        "passages": len(corpus.passages),
        "train_passages": len(train),
    }


def side_of_passage(paths: Paths):
    corpus = load_passages(paths.corpus / PASSAGES_FILE)
    side = json.loads((paths.corpus / SPLIT_FILE).read_text())["documents"]
    doc_of = {p.id: p.doc_id for p in corpus.passages}
    return corpus, (lambda passage_id: side[doc_of[passage_id]])


def split_stage(cfg: AdaptConfig, paths: Paths) -> dict:
    corpus, side_of = side_of_passage(paths)
    rows = read_rows(paths.rows)
    split = split_rows(rows, side_of)
    if not split.queries:
        raise StageError(
            "split: no generated row is grounded in a held-out document; raise --num-examples or --held-out"
        )
    if not split.train_rows:
        raise StageError("split: no training rows left; lower --held-out")
    assert not leaked(split.train_rows, side_of), "a held-out passage reached a training row"
    write_rows(paths.train, split.train_rows)
    stats = json.loads((paths.rows / "stats.json").read_text())
    write_json(
        paths.train / "stats.json",
        {
            **stats,
            "rows": len(split.train_rows),
            "adapt_split": {"train_rows": len(split.train_rows), "held_out_rows": split.held_out_rows},
        },
    )
    write_beir(paths.eval, corpus.passages, split.queries, split.qrels)
    return {
        "train_rows": len(split.train_rows),
        "held_out_rows": split.held_out_rows,
        "eval_queries": len(split.queries),
        "eval_passages": len(corpus.passages),
    }


# ---- child stages: the commands ---------------------------------------------------------------------
def llm_flags(cfg: AdaptConfig) -> list[str]:
    flags = ["--backend", cfg.backend, "--api-key-env", cfg.api_key_env, "--timeout", str(cfg.timeout)]
    if cfg.base_url:
        flags += ["--base-url", cfg.base_url]
    if cfg.concurrency:
        flags += ["--concurrency", str(cfg.concurrency)]
    if cfg.max_cost is not None:
        flags += ["--max-cost", str(cfg.max_cost)]
    return flags


def generate_command(cfg: AdaptConfig, paths: Paths) -> list[str]:
    flags = [
        "--corpus",
        str(paths.corpus),
        "--out",
        str(paths.data),
        "--model",
        cfg.llm_model,
        "--num-examples",
        str(cfg.num_examples),
        "--languages",
        cfg.languages,
        "--seed",
        str(cfg.seed),
        "--progress",
    ]
    if cfg.neighbour_model and cfg.neighbour_model != "none":
        flags += ["--neighbour-model", cfg.neighbour_model]
    else:
        flags += ["--task-types", "grounded_query"]
    return module_command("synth.generate", *flags, *llm_flags(cfg))


def judge_command(cfg: AdaptConfig, paths: Paths) -> list[str]:
    flags = [
        "--data",
        str(paths.data),
        "--out",
        str(paths.judged),
        "--mode",
        cfg.judge,
        "--model",
        cfg.llm_model,
        "--threshold",
        str(cfg.judge_threshold),
        "--corpus",
        str(paths.corpus / PASSAGES_FILE),
    ]
    if cfg.judge == "relabel":
        flags += ["--embed-model", cfg.base_model]
    return module_command("synth.judge", *flags, *llm_flags(cfg))


def mine_command(cfg: AdaptConfig, paths: Paths) -> list[str]:
    return module_command(
        "synth.mine",
        "--data",
        str(paths.train),
        "--out",
        str(paths.mined),
        "--model",
        cfg.base_model,
        "--corpus",
        str(paths.corpus / TRAIN_PASSAGES),
        "--num-negatives",
        str(cfg.num_negatives),
        "--query-format",
        "instruct" if cfg.query_format == "instruct" else "plain",
        "--device",
        cfg.device,
    )


def warmup_steps(rows: int, cfg: AdaptConfig) -> int:
    """A tenth of the run's optimizer steps: train.lora's fixed default (100, the paper's for 500k rows)
    would never reach the peak learning rate on a corpus-sized run."""
    steps = math.ceil(cfg.epochs * (rows // cfg.batch_size or 1))
    return max(1, steps // 10)


def train_command(cfg: AdaptConfig, paths: Paths, rows: int) -> list[str]:
    flags = [
        "--model",
        cfg.base_model,
        "--data",
        str(paths.mined),
        "--output",
        str(paths.model),
        "--epochs",
        str(cfg.epochs),
        "--batch-size",
        str(cfg.batch_size),
        "--lr",
        str(cfg.lr),
        "--max-length",
        str(cfg.max_length),
        "--query-format",
        cfg.query_format,
        "--negatives-per-query",
        str(cfg.negatives_per_query),
        "--warmup-steps",
        str(warmup_steps(rows, cfg)),
        "--gradient-checkpointing",
        checkpointing_flag(cfg.gradient_checkpointing),
        "--resume",
    ]
    if cfg.pooling:
        flags += ["--pooling", cfg.pooling]
    for extra in cfg.train_arg or []:  # later flags win: the user's own train.lora flags come last
        flags += extra.split()
    return module_command("train.lora", *flags)


def eval_command(cfg: AdaptConfig, paths: Paths, model: str, out: Path) -> list[str]:
    flags = [
        "--model",
        model,
        "--data",
        str(paths.eval),
        "--out",
        str(out),
        "--k-values",
        EVAL_KS,
        "--device",
        cfg.device,
        "--max-length",
        str(cfg.max_length),
    ]
    local = Path(model)
    plain_hf = (
        local.is_dir() and not (local / "modules.json").exists() and not (local / "synthembed.json").exists()
    )
    if cfg.pooling and plain_hf:  # only a plain Hugging Face dir takes --pooling; the others record theirs
        flags += ["--pooling", cfg.pooling]
    return module_command("eval.retrieval", *flags)


def checkpointing_flag(value: str | bool) -> str:
    """train.lora's --gradient-checkpointing value; Python callers' booleans (the earlier field) still mean on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value not in ("auto", "on", "off"):
        raise ValueError(f"--gradient-checkpointing {value!r} is not one of auto, on, off")
    return value
