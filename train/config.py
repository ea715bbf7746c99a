"""The one typed config of ``python -m train.lora``, and its argparse front end.

Every field carries its help text in ``metadata["help"]``; the parser is generated from the fields,
so help is written once. Cross-field checks live in ``__post_init__`` and raise ``ConfigError``,
which the CLI prints as one line before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from common.cli import OneLineParser
from common.cli import build_parser as build_config_parser
from common.cli import opt as _opt
from common.model_dir import ModelDirError, check_model_dir
from common.outdir import OutDirError, check_out
from train.errors import ConfigError
from train.m3_config import M3_LOSS_WEIGHTS, M3_SCORE_WEIGHTS, heads_errors

PROG = "python -m train.lora"
DESCRIPTION = "LoRA contrastive training of an LLM embedder on a synth dataset dir (E5-mistral recipe)."
# E5-mistral's instruction for web-search retrieval; recorded as the sentence-transformers "query"
# prompt so `model.encode(texts, prompt_name="query")` reproduces our query side out of the box.
DEFAULT_QUERY_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


# Literal copy of train.pooling.POOLING_MODES (a test keeps them equal): importing pooling would
# import torch, and flag errors should come back in a fraction of a second.
POOLING_MODES = ("last", "mean")
QUERY_FORMATS = ("instruct", "plain")  # literal copy of train.inputs.QUERY_FORMATS, for the same reason
LOSS_NAMES = (
    "info_nce",
    "kd",
    "margin_mse",
)  # literal copy of train.losses.LOSSES' keys (a test keeps them equal)
TEACHER_LOSSES = ("kd", "margin_mse")  # the losses that read the rows' teacher_scores


def parse_ints(text: str, flag: str) -> list[int]:
    """ "384,256,128" -> [384, 256, 128]; ConfigError naming ``flag`` otherwise."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r}: expected comma-separated integers, e.g. 384,256,128,64"
        ) from None
    if not values:
        raise ConfigError(f"{flag}: give at least one value")
    return values


def parse_floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated numbers, e.g. 1,1,0.5,0.5") from None
    if not values:
        raise ConfigError(f"{flag}: give at least one value")
    return values


@dataclass
class TrainConfig:
    model: str = _opt("mistralai/Mistral-7B-v0.1", "base model: a Hub id or a local dir (AutoModel backbone)")
    data: list[str] = _opt(
        None,
        "training rows: a synth dataset dir (DIR/data/*.parquet|*.jsonl), a .jsonl/.parquet file, or hf://owner/name "
        "for a Hub dataset; repeat the flag to mix sets",
        required=True,
    )
    output: Path = _opt(
        None,
        "output dir: merged model, adapter/, checkpoints/, metrics.jsonl, runs/ (TensorBoard)",
        required=True,
    )
    epochs: float = _opt(1.0, "passes over the data (paper: 1); ignored when --max-steps > 0")
    max_steps: int = _opt(-1, "optimizer steps to run; -1 = as many as --epochs gives")
    batch_size: int = _opt(
        2048,
        "GLOBAL contrastive batch (queries per step, summed over all processes; paper: 2048); every positive and hard "
        "negative in it is a candidate for every query. Gradient accumulation is deliberately not offered: it would "
        "not add in-batch negatives; use --grad-cache-chunk to fit a large batch in memory instead",
    )
    lr: float = _opt(1e-4, "peak AdamW learning rate (paper: 1e-4)")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    max_grad_norm: float = _opt(
        1.0,
        "clip the global gradient norm to this before each update (1.0, as in DeepSpeed's own configs); 0 = no clipping",
    )
    warmup_steps: int = _opt(100, "linear warm-up steps, then linear decay to 0 (paper: 100)")
    max_length: int = _opt(
        512, "max tokens per sequence INCLUDING the EOS we append; longer text is cut before the EOS"
    )
    temperature: float = _opt(
        0.02, "student temperature of every loss; logits are cosine / temperature (paper: 0.02)"
    )
    loss: Literal["info_nce", "kd", "margin_mse"] = _opt(
        "info_nce",
        "'info_nce' (E5-mistral: in-batch + hard negatives); 'kd' (E5/mE5 fine-tuning: KL(p_teacher || p_student) "
        "over each query's positive and drawn hard negatives, plus --kd-alpha x info_nce); 'margin_mse' (GPL: "
        "(s_pos - s_neg) / --temperature regressed onto the teacher's margin / --teacher-temperature). kd and "
        "margin_mse read every row's teacher_scores (synth.mine --teacher) and need --negatives-per-query >= 1",
    )
    teacher_temperature: float = _opt(
        1.0, "kd/margin_mse: teacher scores are divided by this (p_teacher = softmax(score / T))"
    )
    kd_alpha: float = _opt(0.2, "kd: weight of the info_nce term added to the KL term; 0 = KL alone")
    matryoshka_dims: str | None = _opt(
        None,
        "Matryoshka: comma list of embedding sizes, e.g. 384,256,128,64; the loss is summed over the L2-normalised "
        "first K values of every embedding for each K (each <= the model's width); recorded in the model dir "
        "so eval's --dim K reads the prefix the model was trained for",
    )
    matryoshka_weights: str | None = _opt(
        None, "Matryoshka: comma list of one weight per --matryoshka-dims entry (default: 1 each)"
    )
    init_from: Path | None = _opt(
        None,
        "staged training: start from an earlier stage's model dir (train.lora's export: a fresh LoRA on its merged "
        "weights, the new export merges onto them; pooling/query format must match) or checkpoint dir "
        "(OUTPUT/checkpoints/step-N: continue its LoRA adapter on its --model with a new optimizer and schedule)",
    )
    pooling: str = _opt(
        "last", "pooling: 'last' (hidden state at the EOS; decoder LLMs) or 'mean' (encoder backbones)"
    )
    normalize: bool = _opt(True, "L2-normalise embeddings (cosine similarity)")
    query_format: str = _opt(
        "instruct",
        "query side: 'instruct' ('Instruct: {instruction}\\nQuery: {query}', the paper's) or 'plain' (the query "
        "alone, no instruction: for a base trained without instructions, e.g. all-MiniLM); recorded in the model "
        "dir, and eval uses instructions only for 'instruct' models",
    )
    query_instruction: str = _opt(
        DEFAULT_QUERY_INSTRUCTION,
        "instruction recorded as the exported model's sentence-transformers 'query' prompt (--query-format instruct)",
    )
    negatives_per_query: int = _opt(
        1,
        "K hard negatives per query and step (train group size K+1), drawn per epoch from the row's own 'negative' "
        "plus its 'mined_negatives' (synth.mine); rows with fewer bring all they have; 1 = the row's own negative "
        "on unmined data; 0 = in-batch negatives only. Documents per step: up to batch size x (1 + K)",
    )
    lora_r: int = _opt(16, "LoRA rank (paper: 16)")
    lora_alpha: int = _opt(32, "LoRA alpha; the update is scaled by alpha / r (paper: 32)")
    lora_dropout: float = _opt(0.1, "dropout on the LoRA input, in [0, 1) (paper: 0.1)")
    lora_target: str = _opt(
        "all-linear",
        "modules that get LoRA: 'all-linear' (every attention and MLP projection) or a comma list, e.g. q_proj,v_proj",
    )
    gradient_checkpointing: Literal["auto", "on", "off"] = _opt(
        "auto",
        "recompute activations in backward to save memory (non-reentrant; costs about one more forward). "
        "'auto' (default): on only when the step's estimated activations exceed half the free memory "
        "(train.memory), so small models run at full speed",
    )
    save_steps: int = _opt(
        500, "write a checkpoint every N optimizer steps and after the last one; 0 = no checkpoints"
    )
    resume: bool = _opt(
        False,
        "continue from the newest checkpoint in OUTPUT/checkpoints (model, optimizer, scheduler, sampler, RNG)",
    )
    seed: int = _opt(42, "seed for data order, LoRA init and dropout")
    grad_cache_chunk: int = _opt(
        0,
        "GradCache: embed N sequences at a time without keeping activations, then backprop chunk by chunk; same loss "
        "and gradients as the full batch, memory of N sequences; 0 = off",
    )
    deepspeed: Path | None = _opt(
        None,
        "DeepSpeed JSON config (e.g. train/configs/zero3.json); batch sizes, bf16 and gradient_clipping are filled in from the flags",
    )
    load_in_4bit: bool = _opt(False, "QLoRA: load the base in 4-bit NF4 via bitsandbytes (needs a CUDA GPU)")
    rope_theta: float | None = _opt(
        None, "override the RoPE base frequency, e.g. 100000 for the paper's long-context variant"
    )
    push_to_hub: str | None = _opt(
        None,
        "after export, upload the model dir (not checkpoints) to this Hub repo id (token: HF_TOKEN or login)",
    )
    log_steps: int = _opt(1, "write a metrics line every N steps")
    heads: str = _opt(
        "dense",
        "retrieval heads to train, comma list of dense,sparse,colbert (BGE-M3: dense + sparse lexical weights + "
        "multi-vector late interaction, with self-distillation); the heads are saved beside the model "
        "(sparse_linear.pt, colbert_linear.pt, FlagEmbedding's layout); dense is required",
    )
    head_score_weights: str = _opt(
        M3_SCORE_WEIGHTS,
        "with several --heads: weights of the dense,sparse,colbert scores in the fused score that is each head's "
        "self-distillation teacher (M3: 1,0.3,1)",
    )
    head_loss_weights: str = _opt(
        M3_LOSS_WEIGHTS,
        "with several --heads: weights of the dense,sparse,colbert InfoNCE and distillation losses (M3: 1,0.1,1; "
        "the random sparse head starts small)",
    )
    self_distill_start_step: int = _opt(
        0,
        "with several --heads: self-distillation from this optimizer step on (0 = from the start; -1 = never)",
    )
    group_by_length: bool = _opt(
        False,
        "length-grouped batching: rows of similar token length share a global batch (seeded, still no repeated "
        "text in a batch, batches in shuffled order with the longest first), so less of each batch is padding",
    )

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if isinstance(self.gradient_checkpointing, bool):  # Python callers of the earlier bool field
            self.gradient_checkpointing = "on" if self.gradient_checkpointing else "off"
        if self.init_from is not None:
            self.init_from = Path(self.init_from)
        if self.deepspeed is not None:
            self.deepspeed = Path(self.deepspeed)
        if not self.data:
            raise ConfigError("--data: give at least one dataset dir, file or hf://id")
        checks = [
            (self.batch_size > 0, f"--batch-size must be > 0, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.epochs > 0 or self.max_steps > 0, "--epochs must be > 0 unless --max-steps is set"),
            (self.max_length >= 2, f"--max-length must be >= 2 (one token plus EOS), got {self.max_length}"),
            (self.temperature > 0, f"--temperature must be > 0, got {self.temperature}"),
            (
                self.pooling in POOLING_MODES,
                f"--pooling {self.pooling!r} is not one of {', '.join(POOLING_MODES)}",
            ),
            (
                self.query_format in QUERY_FORMATS,
                f"--query-format {self.query_format!r} is not one of {', '.join(QUERY_FORMATS)}",
            ),
            (
                self.negatives_per_query >= 0,
                f"--negatives-per-query must be >= 0, got {self.negatives_per_query}",
            ),
            (self.lora_r > 0 and self.lora_alpha > 0, "--lora-r and --lora-alpha must be > 0"),
            (0 <= self.lora_dropout < 1, f"--lora-dropout must be in [0, 1), got {self.lora_dropout}"),
            (self.warmup_steps >= 0 and self.save_steps >= 0, "--warmup-steps and --save-steps must be >= 0"),
            (self.grad_cache_chunk >= 0, f"--grad-cache-chunk must be >= 0, got {self.grad_cache_chunk}"),
            (self.max_grad_norm >= 0, f"--max-grad-norm must be >= 0, got {self.max_grad_norm}"),
            (self.log_steps > 0, f"--log-steps must be > 0, got {self.log_steps}"),
            (
                self.rope_theta is None or self.rope_theta > 0,
                f"--rope-theta must be > 0, got {self.rope_theta}",
            ),
            # GradCache runs several backward passes per optimizer step; the DeepSpeed engine treats each
            # backward as a micro-step with its own reduction, so the two are refused together.
            (
                not (self.grad_cache_chunk and self.deepspeed),
                "--grad-cache-chunk cannot be combined with --deepspeed (the engine owns backward); use DDP for GradCache",
            ),
            (
                not (self.load_in_4bit and self.deepspeed),
                "--load-in-4bit cannot be combined with --deepspeed; QLoRA here is single-process or DDP",
            ),
            (
                self.gradient_checkpointing in ("auto", "on", "off"),
                f"--gradient-checkpointing {self.gradient_checkpointing!r} is not one of auto, on, off",
            ),
            (self.loss in LOSS_NAMES, f"--loss {self.loss!r} is not one of {', '.join(LOSS_NAMES)}"),
            (
                self.teacher_temperature > 0,
                f"--teacher-temperature must be > 0, got {self.teacher_temperature}",
            ),
            (self.kd_alpha >= 0, f"--kd-alpha must be >= 0, got {self.kd_alpha}"),
            (
                self.loss not in TEACHER_LOSSES or self.negatives_per_query >= 1,
                f"--loss {self.loss} scores each query's hard negatives against the teacher's: "
                "--negatives-per-query must be >= 1",
            ),
            (
                self.matryoshka_weights is None or self.matryoshka_dims is not None,
                "--matryoshka-weights needs --matryoshka-dims",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)
        if self.matryoshka_dims is not None:
            dims = parse_ints(self.matryoshka_dims, "--matryoshka-dims")
            if min(dims) < 1 or len(set(dims)) != len(dims):
                raise ConfigError(
                    f"--matryoshka-dims {self.matryoshka_dims}: sizes must be distinct and >= 1"
                )
            if self.matryoshka_weights is not None:
                weights = parse_floats(self.matryoshka_weights, "--matryoshka-weights")
                if len(weights) != len(dims) or min(weights) < 0:
                    raise ConfigError(
                        f"--matryoshka-weights {self.matryoshka_weights}: need {len(dims)} weights >= 0, one per "
                        f"--matryoshka-dims entry"
                    )

        if "," in self.heads and (self.loss != "info_nce" or self.matryoshka_dims is not None):
            raise ConfigError(
                f"--heads {self.heads}: the heads train with their own InfoNCE + self-distillation; "
                f"--loss {self.loss} and --matryoshka-dims apply to a dense-only model"
            )
        for msg in heads_errors(
            self.heads, self.head_score_weights, self.head_loss_weights, self.self_distill_start_step
        ):
            raise ConfigError(msg)

    @property
    def dims(self) -> list[int]:
        """--matryoshka-dims as integers ([] when not given)."""
        return parse_ints(self.matryoshka_dims, "--matryoshka-dims") if self.matryoshka_dims else []

    @property
    def dim_weights(self) -> list[float] | None:
        return (
            parse_floats(self.matryoshka_weights, "--matryoshka-weights") if self.matryoshka_weights else None
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


def read_deepspeed_config(path: Path) -> dict[str, Any]:
    """Parse the DeepSpeed JSON, turning every failure into one ConfigError line naming the file."""
    try:
        cfg = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"--deepspeed {path}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--deepspeed {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"--deepspeed {path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def existing_checkpoints_error(output: Path, newest: str) -> str:
    """Why a fresh run refuses an OUTPUT that holds finished checkpoints: its checkpoints would
    interleave with the old run's, and --resume later would pick whichever has the higher step."""
    return f"--output {output} already holds checkpoints (newest {newest}); pass --resume or use another --output"


def launched_processes() -> int:
    """WORLD_SIZE as torchrun and the deepspeed launcher set it (1 for a plain ``python -m``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def preflight(cfg: TrainConfig) -> None:
    """Checks that need the machine, not just the flags; run before any model is loaded."""
    try:  # what --output may be, and what a local --model must hold: the rules every command shares
        check_out(cfg.output, "train.lora", "--output")
        if cfg.init_from is None:  # with --init-from the base comes from that dir (train.init_from checks it)
            check_model_dir(cfg.model, "--model")
    except (OutDirError, ModelDirError) as e:
        raise ConfigError(str(e)) from None
    done = sorted((cfg.output / "checkpoints").glob("step-*/DONE"))
    # Several processes decide about checkpoints together, once in the process group
    # (train.checkpoint.resume_point): nodes that do not share OUTPUT's storage see different
    # checkpoints, and a process stopping here alone would leave the others waiting for it.
    if done and not cfg.resume and launched_processes() == 1:
        raise ConfigError(existing_checkpoints_error(cfg.output, done[-1].parent.name))
    if cfg.load_in_4bit:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "--load-in-4bit needs a CUDA GPU and none is visible (bitsandbytes 4-bit runs on CUDA only)"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(
                "--load-in-4bit needs bitsandbytes: pip install 'synthembed[gpu]' (or pip install bitsandbytes)"
            )
    if cfg.deepspeed is not None:
        read_deepspeed_config(cfg.deepspeed)
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("--deepspeed needs deepspeed: pip install --no-build-isolation deepspeed")


def build_parser() -> OneLineParser:
    return build_config_parser(TrainConfig, PROG, DESCRIPTION)


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Flags -> TrainConfig. A bad value or combination raises ConfigError, which train.lora's cli
    prints as one `error: ...` line like every other ConfigError (common.cli.parse would print it
    with the program name)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return TrainConfig(**vars(build_parser().parse_args(drop_local_rank(argv))))


def drop_local_rank(argv: list[str]) -> list[str]:
    """``argv`` without the ``--local_rank=N`` that the deepspeed launcher (unless ``--no_local_rank``)
    and ``torch.distributed.launch`` append to every process's flags. The same number is in the
    LOCAL_RANK environment variable, which is what :func:`train.engine.setup_process_group` reads.

        ["--data", "d", "--local_rank=3"] -> ["--data", "d"];  ["--local-rank", "3"] -> []
    """
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg.split("=", 1)[0] in ("--local_rank", "--local-rank"):
            skip = "=" not in arg and i + 1 < len(argv)  # "--local_rank 3": the number is the next word
        else:
            out.append(arg)
    return out
