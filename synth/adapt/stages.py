"""The stages of `synth.adapt`, in order, each resumable: rerunning a stage continues it.

    corpus   -> RUN/corpus/      passages.jsonl (chunked), split.json (documents: train | held_out)
    pairs    -> RUN/pairs/       weak pairs from the documents' structure (synth.pairs; --weak-pairs)
    generate -> RUN/data/        grounded rows over every passage (synth.generate --corpus; not with
                                 --backend none)
    judge    -> RUN/judged/      with --judge: scored or relabelled rows (synth.judge)
    split    -> RUN/train/       training rows (train documents only); RUN/eval/: held-out BEIR dir
    mine     -> RUN/mined/       hard negatives from the training passages and the round-trip filter
                                 (synth.mine --corpus --consistency-k)
    train    -> RUN/tuned/       the tuned embedder (train.lora)
    evaluate -> RUN/results/     base.json, tuned.json, alpha-A.json (eval.retrieval --per-query on
                                 RUN/eval; merged models from train.interpolate in RUN/merged/)
    merge    -> RUN/model/       the chosen alpha's model (synth.adapt.verdict.choose_alpha)
    check    -> RUN/results/     your queries (--eval-data) and the guard (--guard-data), base and
                                 result; the verdict, and the base handed back where it is worse
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
from synth.adapt.split import PAIR_QUERY, leaked, split_rows
from synth.checks.text import normalize
from synth.corpus import load_corpus, load_passages, save_passages, split_documents, write_beir
from synth.dataset.dataset import read_rows, write_json, write_rows
from synth.structure.build import is_weak_pair
from synth.structure.rules import first_sentence

SPLIT_FILE = "split.json"
PASSAGES_FILE = "passages.jsonl"
TRAIN_PASSAGES = "train_passages.jsonl"
EVAL_KS = "1,3,5,10,100"


@dataclass(frozen=True)
class Paths:
    root: Path

    def __getattr__(
        self, name: str
    ) -> Path:  # corpus, pairs, data, judged, train, eval, mined, tuned, merged, model, results, logs
        return self.root / name

    @property
    def state(self) -> Path:
        return self.root / "adapt.json"

    @property
    def rows(self) -> Path:
        """The generated rows the split reads: judged ones when a judge ran."""
        return self.root / ("judged" if (self.root / "judged" / "stats.json").exists() else "data")

    def merged_model(self, alpha: float) -> Path:
        return self.root / "merged" / f"alpha-{alpha:g}"


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


def split_stage(cfg: AdaptConfig, paths: Paths) -> dict:
    corpus = load_passages(paths.corpus / PASSAGES_FILE)
    side = json.loads((paths.corpus / SPLIT_FILE).read_text())["documents"]
    doc_of = {p.id: p.doc_id for p in corpus.passages}

    def side_of(passage_id: str) -> str:
        return side[doc_of[passage_id]]

    passages_of: dict[str, list[str]] = {}
    for p in corpus.passages:
        passages_of.setdefault(p.doc_id, []).append(p.id)

    def side_of_document(doc_id: str) -> str:
        if doc_id not in side:
            raise StageError(f"split: weak pair from document {doc_id!r}, which the corpus stage never read")
        return side[doc_id]

    rows = list(read_rows(paths.rows)) if cfg.uses_llm else []
    llm_rows = len(rows)
    if cfg.pair_rules:
        rows += read_rows(paths.pairs)
    split = split_rows(rows, side_of, side_of_document, passages_of.__getitem__, pair_queries=True)
    if not split.queries:
        raise StageError(
            "split: no generated row is grounded in a held-out document; raise --num-examples or --held-out"
        )
    if not split.train_rows:
        raise StageError("split: no training rows left; lower --held-out")
    assert not leaked(split.train_rows, side_of, side_of_document), (
        "a held-out passage reached a training row"
    )
    write_rows(paths.train, split.train_rows)
    stats = json.loads((paths.rows if cfg.uses_llm else paths.pairs).joinpath("stats.json").read_text())
    pair_rows = sum(1 for r in split.train_rows if is_weak_pair(r))
    write_json(
        paths.train / "stats.json",
        {
            **stats,
            "rows": len(split.train_rows),
            "adapt_split": {"train_rows": len(split.train_rows), "held_out_rows": split.held_out_rows},
        },
    )
    write_beir(paths.eval, corpus.passages, split.queries, split.qrels)
    copies = copied_queries([r for r in rows if r.get("passage_id")], corpus)
    return {
        "copied": copies,
        "train_rows": len(split.train_rows),
        "train_llm_rows": len(split.train_rows) - pair_rows,
        "train_pair_rows": pair_rows,
        "llm_rows": llm_rows,
        "held_out_rows": split.held_out_rows,
        "eval_queries": len(split.queries),
        "eval_queries_llm": sum(1 for q in split.queries if not q.startswith(PAIR_QUERY)),
        "eval_queries_pairs": sum(1 for q in split.queries if q.startswith(PAIR_QUERY)),
        "eval_passages": len(corpus.passages),
    }


def copied_queries(rows: list[dict], corpus, sample: int = 3) -> dict:
    """LLM rows whose query is its passage's title or first sentence, or a piece of either: weak pairs
    in disguise, which the base model already finds. Counted (and sampled) for the report."""
    out = {"title": 0, "first_sentence": 0, "samples": []}
    for row in rows:
        passage = corpus.index.get(row["passage_id"])
        if passage is None:
            continue
        query = normalize(row["query"])
        first = normalize(first_sentence(passage.text)[0] or passage.text.split("\n", 1)[0])
        kind = None
        if query and passage.title and query in normalize(passage.title):
            kind = "title"
        elif query and query in first:
            kind = "first_sentence"
        if kind:
            out[kind] += 1
            if len(out["samples"]) < sample:
                out["samples"].append({"copy_of": kind, "query": row["query"]})
    return out


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
    if cfg.example_queries is not None:
        flags += ["--example-queries", str(cfg.example_queries)]
    if not cfg.llm_negatives:
        flags.append("--no-llm-negatives")
    if cfg.queries_per_call > 1:
        flags += ["--queries-per-call", str(cfg.queries_per_call)]
    if cfg.neighbour_model and cfg.neighbour_model != "none":
        flags += ["--neighbour-model", cfg.neighbour_model]
    else:
        flags += ["--task-types", "grounded_query"]
    return module_command("synth.generate", *flags, *llm_flags(cfg))


def pairs_command(cfg: AdaptConfig, paths: Paths) -> list[str]:
    """Weak pairs from every document (the split sends each to its document's side)."""
    language = cfg.languages.split(",")[0].split(":")[0].strip()
    return module_command(
        "synth.pairs",
        "--corpus",
        str(cfg.corpus),
        "--out",
        str(paths.pairs),
        "--rules",
        ",".join(cfg.pair_rules),
        "--language",
        language,
        "--chunk-tokens",
        str(cfg.chunk_tokens),
    )


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
        *(["--consistency-k", str(cfg.consistency_k)] if cfg.consistency_k else []),
        *(["--teacher", cfg.teacher] if cfg.teacher else []),
    )


MIN_STEPS = (
    30  # a few dozen rows still move the model (16 steps moved nothing measurable in the runs)
)
MAX_STEPS = 150  # a CPU budget (about 20 minutes of MiniLM on 2 cores); 120 steps gave +1.19 on scifact-dev


def train_steps(rows: int, cfg: AdaptConfig) -> int:
    """--train-steps, else `--epochs` passes over the rows in batches of --batch-size, within
    [MIN_STEPS, MAX_STEPS]: a few hundred rows still get enough steps to move, and 50,000 weak pairs
    do not buy hours of CPU that nobody has measured to pay back (a GPU user raises --train-steps).

    >>> from types import SimpleNamespace as C
    >>> [train_steps(n, C(train_steps=None, epochs=1.0, batch_size=32)) for n in (100, 3200, 50000)]
    [30, 100, 150]
    """
    if cfg.train_steps:
        return cfg.train_steps
    return min(MAX_STEPS, max(MIN_STEPS, math.ceil(cfg.epochs * rows / cfg.batch_size)))


def warmup_steps(steps: int) -> int:
    """A tenth of the run's optimizer steps: train.lora's fixed default (100, the paper's for 500k rows)
    would never reach the peak learning rate on a corpus-sized run."""
    return max(1, steps // 10)


def train_command(cfg: AdaptConfig, paths: Paths, rows: int) -> list[str]:
    steps = train_steps(rows, cfg)
    flags = [
        "--model",
        cfg.base_model,
        "--data",
        str(paths.mined),
        "--output",
        str(paths.tuned),
        "--max-steps",
        str(steps),
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
        str(warmup_steps(steps)),
        "--gradient-checkpointing",
        checkpointing_flag(cfg.gradient_checkpointing),
        "--resume",
    ]
    if cfg.pooling:
        flags += ["--pooling", cfg.pooling]
    if cfg.teacher:  # E5's distillation: KL to the teacher's scores plus a share of InfoNCE
        flags += ["--loss", "kd"]
    for extra in cfg.train_arg or []:  # later flags win: the user's own train.lora flags come last
        flags += extra.split()
    return module_command("train.lora", *flags)


def interpolate_command(cfg: AdaptConfig, paths: Paths, alpha: float, out: Path) -> list[str]:
    return module_command(
        "train.interpolate", "--model", str(paths.tuned), "--alpha", str(alpha), "--output", str(out)
    )


def model_flags(cfg: AdaptConfig, model: str) -> list[str]:
    flags = ["--model", model, "--device", cfg.device, "--max-length", str(cfg.max_length)]
    local = Path(model)
    plain_hf = (
        local.is_dir() and not (local / "modules.json").exists() and not (local / "synthembed.json").exists()
    )
    if cfg.pooling and plain_hf:  # only a plain Hugging Face dir takes --pooling; the others record theirs
        flags += ["--pooling", cfg.pooling]
    return flags


def eval_command(
    cfg: AdaptConfig, paths: Paths, model: str, out: Path, data: Path | None = None, split: str = "test"
) -> list[str]:
    """eval.retrieval with every query's scores (the verdict's paired bootstrap reads them)."""
    flags = ["--data", str(data or paths.eval), "--split", split, "--out", str(out), "--k-values", EVAL_KS]
    return module_command("eval.retrieval", *model_flags(cfg, model), *flags, "--per-query", "--no-progress")


def guard_command(cfg: AdaptConfig, model: str, out: Path) -> list[str]:
    """eval.sts on an STS file, eval.retrieval on a BEIR dir."""
    if cfg.guard_data.is_dir():
        flags = ["--data", str(cfg.guard_data), "--out", str(out), "--k-values", EVAL_KS, "--no-progress"]
        return module_command("eval.retrieval", *model_flags(cfg, model), *flags)
    flags = ["--data", str(cfg.guard_data), "--out", str(out), "--no-progress"]
    return module_command("eval.sts", *model_flags(cfg, model), *flags)


def guard_score(result: dict) -> tuple[str, float]:
    scores = result["scores"]
    return ("spearman", scores["spearman"]) if "spearman" in scores else ("ndcg_at_10", scores["ndcg_at_10"])


def checkpointing_flag(value: str | bool) -> str:
    """train.lora's --gradient-checkpointing value; Python callers' booleans (the earlier field) still mean on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value not in ("auto", "on", "off"):
        raise ValueError(f"--gradient-checkpointing {value!r} is not one of auto, on, off")
    return value
