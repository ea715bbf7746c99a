"""Loading the tokenizer and the backbone, and wrapping it with LoRA.

Written once here so the trainer and the exporter set models up the same way: dtype (bf16 where the
GPU supports it, else fp32; never fp16, whose overflow with left padding gives NaN embeddings),
attention (flash-attention 2 when installed on CUDA, else SDPA), the optional RoPE-base override
(transformers 4: ``config.rope_theta``; transformers 5: ``config.rope_parameters["rope_theta"]``),
optional 4-bit loading (QLoRA) and LoRA through ``peft``.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import torch
import transformers
from packaging.version import Version

from train.errors import ConfigError
from train.inputs import check_tokenizer

log = logging.getLogger(__name__)

# transformers renamed from_pretrained's torch_dtype to dtype in 4.56 (the old name warns in 5).
_DTYPE_KW = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def choose_dtype(cuda: bool | None = None, bf16: bool | None = None) -> torch.dtype:
    """bf16 on a GPU that supports it, fp32 otherwise. fp16 is never chosen (NaN trap, see module doc)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if bf16 is None else bf16
    return torch.bfloat16 if cuda and bf16 else torch.float32


def name_deepspeed_accelerator() -> None:
    """Tell DeepSpeed the accelerator on a machine without CUDA, before anything imports it.

    accelerate imports DeepSpeed whenever it is installed (``save_pretrained`` unwraps the model
    through it), even in a run without --deepspeed, and DeepSpeed then guesses its accelerator and
    warns "Setting accelerator to CPU. If you have GPU or other accelerator, we were unable to detect
    it." on the screen. Training runs where torch says (``train.engine``): on a machine without CUDA
    that is the CPU, which DS_ACCELERATOR=cpu names outright, so the guess and its warning never
    happen. A value the user set is kept.
    """
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def attn_implementation() -> str:
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def sep_as_eos(tok) -> bool:
    """Our EOS rule for encoders: a tokenizer without EOS but with [SEP] (BERT-style, which ends every
    sequence with it) gets [SEP] as its EOS. Returns whether it did; eval applies the same rule."""
    if tok.eos_token_id is None and tok.sep_token_id is not None:
        tok.eos_token = tok.sep_token
        return True
    return False


def load_tokenizer(name: str, padding_side: str = "right"):
    """The model's tokenizer, checked for an EOS token, padded with EOS when it has no pad token.

    Training pads on the right: last-token pooling copes with either side, but right padding keeps
    absolute-position encoders correct and avoids the fp16 left-padding NaN altogether.
    """
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except OSError as e:
        raise ConfigError(f"--model {name}: cannot load a tokenizer ({str(e).splitlines()[0]})") from None
    if sep_as_eos(tok):
        log.info("tokenizer of %s has no EOS token; using its SEP token %r as EOS", name, tok.sep_token)
    try:
        check_tokenizer(tok)
    except ValueError as e:
        raise ConfigError(f"--model {name}: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def set_rope_theta(config, theta: float) -> None:
    """Set the RoPE base in a config of transformers 4 or 5; ConfigError when the model has no RoPE."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:  # transformers 5
        params["rope_theta"] = float(theta)
    elif isinstance(params, dict) and params and all(isinstance(v, dict) for v in params.values()):
        for sub in params.values():  # transformers 5, one RoPE per layer type (e.g. sliding/full)
            sub["rope_theta"] = float(theta)
    elif hasattr(config, "rope_theta"):  # transformers 4
        config.rope_theta = float(theta)
    else:
        raise ConfigError(f"--rope-theta: model type {config.model_type!r} has no RoPE setting in its config")


def load_backbone(
    name: str,
    *,
    dtype: torch.dtype,
    rope_theta: float | None = None,
    load_in_4bit: bool = False,
    gradient_checkpointing: bool = False,
    device_map: dict | None = None,
):
    """``AutoModel`` (no LM head) with our settings; the KV cache is off (training and embedding)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(name)
    if rope_theta is not None:
        set_rope_theta(config, rope_theta)
    config.use_cache = False
    kwargs = {_DTYPE_KW: dtype, "attn_implementation": attn_implementation(), "config": config}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = device_map or {"": torch.cuda.current_device()}
    model = AutoModel.from_pretrained(name, **kwargs)
    gc_kwargs = {"use_reentrant": False}  # reentrant checkpointing breaks with frozen inputs and ZeRO-3
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing, gradient_checkpointing_kwargs=gc_kwargs
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
    return model


def unused_linears(model) -> list[str]:
    """Linear layers no embedding reaches: an encoder's own pooler (BERT's [CLS] dense + tanh), as our
    pooling reads ``last_hidden_state``. ``all-linear`` LoRA (and a target such as ``dense``) would put
    adapters there that no loss trains, and DDP stops at the second step on parameters without a
    gradient ("parameters that were not used in producing loss"). [] for decoder LLMs.

        BertModel -> ["pooler.dense"];  MistralModel -> []
    """
    pooler = getattr(model, "pooler", None)
    if not isinstance(pooler, torch.nn.Module):
        return []
    return [
        ".".join(["pooler", n] if n else ["pooler"])
        for n, m in pooler.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]


def add_lora(model, *, r: int, alpha: int, dropout: float, target: str):
    """Wrap with peft LoRA (never on :func:`unused_linears`); only the adapter is trainable afterwards."""
    from peft import LoraConfig, get_peft_model

    targets = target if target == "all-linear" else [t.strip() for t in target.split(",") if t.strip()]
    skip = (
        {"exclude_modules": unused} if (unused := unused_linears(model)) else {}
    )  # decoders: config as before
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none", **skip)
    try:
        model = get_peft_model(model, cfg)
    except ValueError as e:  # peft names the missing modules; keep its words, one line
        raise ConfigError(f"--lora-target {target}: {str(e).splitlines()[0]}") from None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("LoRA r=%d alpha=%d on %s: %d trainable of %d parameters", r, alpha, target, trainable, total)
    return model
