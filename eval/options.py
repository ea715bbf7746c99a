"""Model options every entry point shares, written once (help text included).

Each entry point's config subclasses :class:`EncoderOptions` and adds its own fields, so the
model/device/dtype set-up is not pasted into four drivers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.outdir import OutDirError, check_writable
from eval.encoder import Encoder
from eval.errors import EvalError

log = logging.getLogger(__name__)

RESULTS_FORMAT = 1  # format_version of the JSON that eval.retrieval/sts/passkey/mteb write
DEFAULT_CACHE = str(
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "synthembed" / "embeddings"
)


@dataclass(kw_only=True)
class EncoderOptions:
    model: str = field(metadata={"help": "model dir (ours or sentence-transformers) or Hub id org/name"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if present), cpu, cuda, cuda:1, ..."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16 on a GPU that has it, else fp32; fp16 only when asked), float32, bfloat16, float16"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "most texts per forward pass"})
    max_tokens: int = field(
        default=-1,
        metadata={"help": "most padded tokens per forward pass; -1: 2048 on CPU, 32768 on GPU; 0: no limit"},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "tokens kept per input; default: the model dir's (512 for ours, the paper's protocol)"
        },
    )
    cache_dir: str = field(
        default=DEFAULT_CACHE,
        metadata={"help": "embedding cache dir, keyed by model and input hash; '' turns it off"},
    )
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    pooling: str | None = field(
        default=None,
        metadata={
            "help": "last or mean, for a plain Hugging Face dir (no synthembed.json or modules.json); default: "
            "last for causal LMs, mean for encoders"
        },
    )
    use_instructions: Literal["auto", "yes", "no"] = field(
        default="auto",
        metadata={
            "help": "auto: instructions only for models trained with them (synthembed.json says so; "
            "sentence-transformers and plain Hugging Face dirs get none); yes: always, in the E5 format "
            "'Instruct: ...\\nQuery: ...' where the model records none; no: never"
        },
    )

    dim: int | None = field(
        default=None,
        metadata={
            "help": "keep the first K values of every embedding and L2-normalise them again (Matryoshka "
            "truncation; a model trained with train.lora --matryoshka-dims records its sizes); default: all"
        },
    )

    def __post_init__(self) -> None:
        """Flag checks every entry point shares; an entry point's own ``__post_init__`` calls this first."""
        if self.batch_size < 1:
            raise EvalError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_tokens < -1:
            raise EvalError(
                f"--max-tokens must be -1 (the device's default), 0 (no limit) or more, got {self.max_tokens}"
            )
        if self.dim is not None and self.dim < 1:
            raise EvalError(f"--dim must be at least 1, got {self.dim}")

    def load_encoder(self, **overrides) -> Encoder:
        """The encoder, after checking that --cache-dir can be written (not after the encoding)."""
        if self.cache_dir:
            try:
                check_writable(Path(self.cache_dir).expanduser(), "--cache-dir")
            except OutDirError as e:
                raise EvalError(
                    f"{e}; give a writable dir, or --cache-dir '' to turn the cache off"
                ) from None
        kwargs = dict(
            dim=self.dim,
            pooling=self.pooling,
            use_instructions=self.use_instructions,
            device=self.device,
            dtype=self.dtype,
            max_length=self.max_length,
            batch_size=self.batch_size,
            max_tokens=None if self.max_tokens == 0 else self.max_tokens,
            cache_dir=Path(self.cache_dir).expanduser() if self.cache_dir else None,
            show_progress=self.progress,
        )
        return Encoder.load(self.model, **{**kwargs, **overrides})


def out_file(out: str | Path, default_name: str, create: bool = True) -> Path:
    """``--out`` is a .json file, or a dir that gets ``default_name``; with ``create`` its dir is made.

    A file where the dir must be, a dir where the file must be, or a place this process cannot write
    is one EvalError line. Each evaluator calls it with ``create=False`` before loading the model,
    so a bad ``--out`` is known before the encoding, not after it.
    """
    path = Path(out)
    if path.suffix.lower() != ".json":
        path = path / default_name
    try:
        if path.is_dir():
            raise OutDirError(f"--out {out}: {path} is a directory, not a results file")
        check_writable(path.parent, "--out")
    except OutDirError as e:
        raise EvalError(str(e)) from None
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def pick_instruction(encoder: Encoder, given: str | None, default: str | None) -> str | None:
    """The instruction an evaluator puts on its inputs: ``given`` ('' = none; None = ``default``), and
    only when the model takes instructions (trained with them, or ``--use-instructions yes``)."""
    if not encoder.takes_instructions:
        if given:  # asked for explicitly: say why it is not used rather than drop it silently
            log.warning(
                "--instruction ignored: %s was trained without instructions (--use-instructions yes forces one)",
                encoder.spec.name,
            )
        return None
    return (default if given is None else given) or None


def describe_instruction(instruction: str | None) -> str:
    """What the summary line prints: the instruction in quotes, or none."""
    return "none" if instruction is None else repr(instruction)
