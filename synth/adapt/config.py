"""The `synth.adapt` command line, as one dataclass: every option's help lives on its field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.cli import opt
from synth.adapt.verdict import parse_alphas
from synth.backends.build import choose_backend
from synth.run.config import MAX_QUERIES_PER_CALL
from synth.structure.rules import RULES

JUDGE_MODES = ("off", "score", "relabel")
NO_LLM = "none"
# Defaults measured on scifact-dev (bench/adapt_lift.py; the README's table)
DEFAULT_PAIR_RULES = "title_body,last_sentence"
DEFAULT_CONSISTENCY_K = 3
DEFAULT_ALPHAS = "0,0.5,1"
# Queries one generation call writes for its passage: the passage is read once for all (measured in
# bench/local_throughput.py; README, "Kept rows per minute"): SmolLM2 at 4 made 2.17x the old
# generator's kept rows a minute and 0.86 calls a row, against 1.92x and 1.10 at 3, in one run.
QUERIES_PER_CALL = 4


@dataclass
class AdaptConfig:
    corpus: Path | None = opt(
        None,
        "your documents: a folder of .txt/.md, a .jsonl/.parquet with 'text' "
        "(optional 'title', '_id'), or a BEIR dir",
        required=True,
    )
    base_model: str | None = opt(None, "the embedder to adapt: a Hub id or a local dir", required=True)
    out: Path | None = opt(
        None, "run dir: every stage's output, the report, and what a rerun continues from", required=True
    )
    llm_model: str | None = opt(
        None,
        "the LLM that writes queries (and judges, with --judge) (default: "
        "gpt-4o-mini on the API, the embedded smollm2-135m-instruct locally)",
    )
    backend: str | None = opt(
        None,
        "LLM backend: openai (any OpenAI-compatible server), openai-batch, vllm, local, or none "
        "(no LLM: train on --weak-pairs alone) (default: openai with --base-url, a key or an API "
        "--llm-model; else local, the embedded model on this machine's CPU)",
    )
    base_url: str | None = opt(None, "OpenAI-compatible server, e.g. http://localhost:8000/v1")
    api_key_env: str = opt("OPENAI_API_KEY", "environment variable that holds the API key")
    concurrency: int | None = opt(None, "LLM calls in flight (default: the backend's)")
    max_cost: float | None = opt(None, "stop generation and judging once this many USD are spent (exit 3)")
    timeout: float = opt(300.0, "seconds before one LLM call times out")
    num_examples: int = opt(1000, "grounded training rows to generate (held-out queries included)")
    languages: str = opt(
        "en",
        "query languages, ISO codes, optionally weighted: 'en' or 'en:0.7,de:0.3' "
        "(cross-lingual queries for the same passages)",
    )
    seed: int = opt(0, "run seed: the split, the passages each call reads, the knobs")
    chunk_tokens: int = opt(256, "token budget of one passage; documents are chunked on paragraph boundaries")
    held_out: float = opt(0.2, "share of source documents held out for evaluation, in (0, 1)")
    neighbour_model: str | None = opt(
        None,
        "embedder for the neighbours of multi-hop questions "
        "(default: --base-model); 'none' leaves multi_hop out",
    )
    weak_pairs: str = opt(
        DEFAULT_PAIR_RULES,
        "synth.pairs rules whose pairs from your documents' own structure train beside the LLM's rows "
        "(title_body, heading_section, question_answer, first_sentence, last_sentence), or none",
    )
    consistency_k: int = opt(
        DEFAULT_CONSISTENCY_K,
        "round-trip filter: keep a training row only if the base model ranks its own passage in the "
        "top K of the training passages for its query (E5's consistency filter); 0 keeps every row",
    )
    teacher: str | None = opt(
        None,
        "a model that scores (query, passage) pairs better than the base, e.g. a cross-encoder dir: "
        "synth.mine --teacher scores every row's candidates and train.lora distils them (--loss kd)",
    )
    train_steps: int | None = opt(
        None,
        "optimizer steps of train.lora (default: the rule in synth.adapt.stages.train_steps: one pass "
        "over the rows, at least MIN_STEPS and at most MAX_STEPS)",
    )
    merge_alphas: str = opt(
        DEFAULT_ALPHAS,
        "weights of the tuned model tried when merging it with the base (WiSE-FT), chosen on half of "
        "the held-out queries; 0 (the base) and 1 (the tuned model) are always tried",
    )
    eval_data: Path | None = opt(
        None,
        "a BEIR dir of your own labelled queries over these documents: base and result are scored "
        "on it and the verdict uses it",
    )
    eval_split: str = opt("test", "qrels split of --eval-data (qrels/SPLIT.tsv)")
    guard_data: Path | None = opt(
        None,
        "general-ability check: an STS .tsv/.csv file or a BEIR dir; the result may lose at most "
        "--guard-margin there, else the base is handed back",
    )
    guard_margin: float = opt(0.01, "largest loss allowed on --guard-data (nDCG@10 or Spearman, 0-1 scale)")
    example_queries: Path | None = opt(
        None,
        "a file of real queries your users write (one per line, or .jsonl with 'text'): the LLM is shown "
        "up to 8 as the style its queries should take (synth.generate --example-queries)",
    )
    llm_negatives: bool = opt(
        False,
        "also ask the LLM for a hard negative per query; by default it writes queries only, since "
        "mining gives every row --num-negatives negatives (the written one is most of a call's tokens)",
    )
    queries_per_call: int | None = opt(
        None,
        "queries the LLM writes per passage in one call (synth.generate --queries-per-call), each a row: "
        f"the passage is read once for all (default {QUERIES_PER_CALL}; 1 with --llm-negatives)",
    )
    judge: str = opt(
        "off",
        f"LLM judge pass: {', '.join(JUDGE_MODES)} (score: drop rows under --judge-threshold; "
        "relabel: the judge picks the best of the top-k passages as the positive)",
    )
    judge_threshold: int = opt(3, "with --judge score: lowest score (1-5) a row keeps")
    num_negatives: int = opt(7, "hard negatives mined per row from the corpus's training passages")
    negatives_per_query: int = opt(
        3,
        "of those, hard negatives per query in each training step (memory: "
        "batch x (1 + this) documents per step)",
    )
    gradient_checkpointing: str = opt(
        "auto",
        "train.lora's --gradient-checkpointing: auto (on only where the "
        "activations would not fit), on or off",
    )
    pooling: str | None = opt(
        None, "pooling of the base model: last (causal LMs) or mean (encoders); default: train.lora's"
    )
    query_format: str = opt(
        "instruct",
        "query side: instruct (E5 'Instruct: ...\\nQuery: ...') or plain "
        "(for a base trained without instructions)",
    )
    epochs: float = opt(1.0, "training passes over the rows, within the --train-steps rule's bounds")
    batch_size: int = opt(64, "contrastive batch of train.lora (queries per step)")
    lr: float = opt(1e-4, "peak learning rate of train.lora")
    max_length: int = opt(512, "tokens per sequence for training and evaluation")
    train_arg: list[str] | None = opt(
        None, "more train.lora flags, each as one string: --train-arg '--lora-r 8'"
    )
    device: str = opt("auto", "torch device for mining, training and evaluation: auto, cpu, cuda, cuda:1")
    progress: bool = opt(True, "show the progress display")

    def __post_init__(self) -> None:
        if self.corpus is None or not self.base_model or self.out is None:
            raise ValueError("--corpus, --base-model and --out are required")
        if self.judge not in JUDGE_MODES:
            raise ValueError(f"--judge: {self.judge!r} is not one of {', '.join(JUDGE_MODES)}")
        if not 0 < self.held_out < 1:
            raise ValueError(f"--held-out must be in (0, 1), got {self.held_out}")
        if not 1 <= self.judge_threshold <= 5:
            raise ValueError(f"--judge-threshold must be in 1..5, got {self.judge_threshold}")
        if self.negatives_per_query < 0:
            raise ValueError(f"--negatives-per-query must be >= 0, got {self.negatives_per_query}")
        for name in ("num_examples", "chunk_tokens", "num_negatives", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.queries_per_call is None:
            self.queries_per_call = 1 if self.llm_negatives else QUERIES_PER_CALL
        if self.llm_negatives and self.queries_per_call > 1:
            raise ValueError(
                "--llm-negatives asks one query and its negative per call: not with --queries-per-call"
            )
        if not 1 <= self.queries_per_call <= MAX_QUERIES_PER_CALL:
            raise ValueError(
                f"--queries-per-call must be in 1..{MAX_QUERIES_PER_CALL}, got {self.queries_per_call}"
            )
        if self.consistency_k < 0:
            raise ValueError(f"--consistency-k must be 0 (off) or more, got {self.consistency_k}")
        if self.train_steps is not None and self.train_steps < 1:
            raise ValueError(f"--train-steps must be at least 1, got {self.train_steps}")
        if not 0 <= self.guard_margin < 1:
            raise ValueError(f"--guard-margin must be in [0, 1), got {self.guard_margin}")
        self.alphas = parse_alphas(self.merge_alphas)
        rules = [r.strip() for r in self.weak_pairs.split(",") if r.strip()]
        unknown = [r for r in rules if r not in RULES and r != NO_LLM]
        if unknown or not rules or (NO_LLM in rules and len(rules) > 1):
            raise ValueError(f"--weak-pairs {self.weak_pairs!r}: give rules of {', '.join(RULES)}, or none")
        self.pair_rules = [] if rules == [NO_LLM] else rules
        for flag, path in (
            ("--eval-data", self.eval_data),
            ("--guard-data", self.guard_data),
            ("--example-queries", self.example_queries),
        ):
            if path is not None and not path.exists():
                raise ValueError(f"{flag}: {path} does not exist")
        if self.eval_data is not None and not (self.eval_data / "qrels" / f"{self.eval_split}.tsv").is_file():
            raise ValueError(
                f"--eval-data: {self.eval_data} has no qrels/{self.eval_split}.tsv (a BEIR dir; see --eval-split)"
            )
        if self.teacher and self.negatives_per_query < 1:
            raise ValueError(
                "--teacher distils scores over hard negatives: --negatives-per-query must be >= 1"
            )
        if self.neighbour_model is None:
            self.neighbour_model = self.base_model
        if self.backend == NO_LLM:
            if not self.pair_rules:
                raise ValueError(
                    "--backend none trains on weak pairs alone: --weak-pairs none leaves nothing"
                )
            if self.judge != "off":
                raise ValueError("--judge needs an LLM: not with --backend none")
            self.llm_model, self.backend_note = None, None
            return
        self.backend, self.llm_model, self.backend_note = choose_backend(
            self.backend, self.llm_model, self.base_url, self.api_key_env
        )

    @property
    def uses_llm(self) -> bool:
        return self.backend != NO_LLM

    def settings(self) -> dict:
        """What a rerun must share with the run it continues (progress, device and the LLM endpoint
        may change between runs)."""
        keep = (
            "corpus",
            "base_model",
            "llm_model",
            "num_examples",
            "languages",
            "seed",
            "chunk_tokens",
            "held_out",
            "neighbour_model",
            "judge",
            "judge_threshold",
            "weak_pairs",
            "consistency_k",
            "teacher",
            "train_steps",
            "merge_alphas",
            "example_queries",
            "llm_negatives",
            "queries_per_call",
            "eval_data",
            "eval_split",
            "guard_data",
            "guard_margin",
            "num_negatives",
            "negatives_per_query",
            "pooling",
            "query_format",
            "epochs",
            "batch_size",
            "lr",
            "max_length",
            "train_arg",
        )
        return {
            k: str(getattr(self, k)) if isinstance(getattr(self, k), Path) else getattr(self, k) for k in keep
        }
