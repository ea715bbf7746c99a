"""What a model dir says about how to embed with it: pooling, EOS, instruction template, length.

Three kinds of dir are understood:

* ours (written by ``train``'s export): ``synthembed.json`` at the root, e.g.
  ``{"format_version": 1, "pooling": "last", "instructions": true, "query_format": "instruct",
  "query_template": "Instruct: {instruction}\\nQuery: {query}", "max_length": 512, "normalize": true,
  "add_eos": true, ...}``. A model trained without instructions (``"instructions": false``,
  ``query_template`` null) takes none; dirs written before that key existed were all trained with them;
* any sentence-transformers dir (``modules.json``): the Transformer module's path and
  ``max_seq_length``, the Pooling mode (``mean`` or ``lasttoken``) and whether a Normalize module
  follows. Such models take no instruction;
* a plain Hugging Face dir (``config.json``, weights, tokenizer; e.g. the base model before
  training, or a raw checkpoint): pooling from ``--pooling``, by default ``last`` for causal LMs and
  ``mean`` for encoders (:func:`default_pooling`); inputs end in EOS by train's rule (an encoder's
  [SEP] plays EOS), L2-normalised, no instruction, at most 512 tokens or the model's positions.

A Hub id (``org/name``) that is not a local path is downloaded with ``huggingface_hub`` first (on
machines that can reach the Hub) and then read like a local dir.

Not handled: pooling modes other than mean and last token (cls, max, weighted mean), Router or
multi-modal sentence-transformers pipelines, sentence-transformers ``prompts`` (ignored),
encoder-decoder checkpoints (T5, BART) as plain dirs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from common.model_dir import ModelDirError, check_model_dir, missing_model_files
from common.query_format import QUERY_TEMPLATE
from eval.errors import EvalError
from train.embedder import POOLING_MODES

SPEC_FILE = "synthembed.json"
KINDS = ("synthembed", "sentence-transformers", "huggingface")
SUPPORTED_FORMAT = 1
DEFAULT_MAX_LENGTH = 512  # the paper embeds the first 512 tokens of every input
# sentence-transformers pooling mode -> ours (train.pooling.POOLING_MODES)
_ST_POOLING = {"mean": "mean", "lasttoken": "last"}
_ST_LEGACY = {"pooling_mode_mean_tokens": "mean", "pooling_mode_lasttoken": "lasttoken"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class _SpecFile(BaseModel):
    """The fields of ``synthembed.json`` that evaluation reads.

    extra="ignore", not "forbid": train records more (base model, training config) than eval needs,
    and a newer train may add keys; the format version is what guards compatibility.
    """

    model_config = ConfigDict(extra="ignore")
    format_version: int
    pooling: Literal["last", "mean"]
    instructions: bool = True  # trained with instructions; absent in dirs from before plain training
    query_format: Literal["instruct", "plain"] = "instruct"
    query_template: str | None = QUERY_TEMPLATE  # None: the model takes no instruction
    query_instruction: str | None = None  # the instruction the model was exported with, if any
    max_length: int = DEFAULT_MAX_LENGTH
    normalize: bool = True
    add_eos: bool = True
    matryoshka_dims: list[int] = []  # train.lora --matryoshka-dims: the prefixes the model was trained for


@dataclass(frozen=True)
class ModelSpec:
    """How to embed with one model; ``path`` is the dir holding the HF config, weights and tokenizer."""

    path: Path
    name: str  # "org/name" as mteb wants it
    kind: Literal["synthembed", "sentence-transformers", "huggingface"]
    pooling: str  # one of train.pooling.POOLING_MODES
    normalize: bool
    add_eos: bool  # True: train.inputs.tokenize appends EOS; False: the tokenizer's own special tokens
    query_template: str | None  # None: the model was trained without instructions (takes none)
    default_instruction: str | None  # synthembed.json's query_instruction, used when none is given
    max_length: int
    fingerprint: str  # identity of weights + config, for the embedding cache
    matryoshka_dims: tuple[int, ...] = ()  # trained Matryoshka prefixes (ours only); () = full width only


def resolve(name_or_path: str) -> Path:
    """A local dir for ``name_or_path``: the path itself, or a Hub snapshot of ``org/name``."""
    try:
        local = check_model_dir(name_or_path, "--model")  # the check train.lora and synth.adapt make
    except ModelDirError as e:
        raise EvalError(str(e)) from None
    if local is not None:
        return local
    if not _HUB_ID.match(name_or_path):
        raise EvalError(f"--model {name_or_path}: no such directory (and not a Hub id of the form org/name)")
    from huggingface_hub import snapshot_download

    try:
        # Other weight formats (ONNX, OpenVINO, TF, Flax) are never read here, so never fetched.
        local = snapshot_download(
            name_or_path, ignore_patterns=["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.tflite"]
        )
    except Exception as e:  # noqa: BLE001 - any Hub failure is reported as one line, with its reason
        raise EvalError(
            f"--model {name_or_path}: not a local dir and the Hub download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    return Path(local)


def read_spec(name_or_path: str, max_length: int | None = None, pooling: str | None = None) -> ModelSpec:
    """Read a model dir (ours, sentence-transformers or plain Hugging Face); ``max_length`` overrides
    the dir's; ``pooling`` is for plain dirs only (the others record theirs)."""
    if pooling is not None and pooling not in POOLING_MODES:
        raise EvalError(f"--pooling {pooling!r}: valid values are {', '.join(POOLING_MODES)}")
    root = resolve(name_or_path)
    name = (
        name_or_path
        if _HUB_ID.match(name_or_path) and not Path(name_or_path).exists()
        else f"local/{root.resolve().name}"
    )
    if (root / SPEC_FILE).is_file():
        spec = _read_ours(root)
        model_path, kind = root, "synthembed"
        _only_plain_dirs_take_pooling(pooling, root / SPEC_FILE)
        pooling, normalize, add_eos = spec.pooling, spec.normalize, spec.add_eos
        # Trained without instructions: no template, so no instruction is ever put on its inputs.
        template: str | None = spec.query_template if spec.instructions else None
        default_instruction = spec.query_instruction if spec.instructions else None
        length = spec.max_length
        matryoshka = tuple(spec.matryoshka_dims)
    elif (root / "modules.json").is_file():
        _only_plain_dirs_take_pooling(pooling, root / "modules.json")
        model_path, pooling, normalize, length = _read_sentence_transformers(root)
        kind, template, default_instruction = "sentence-transformers", None, None
        # A last-token model must end every input in EOS whatever its tokenizer does (see train.inputs).
        add_eos = pooling == "last"
    elif (root / "config.json").is_file():
        config = _read_config(root / "config.json")
        model_path, kind, template, default_instruction = root, "huggingface", None, None
        pooling = pooling or default_pooling(config)
        normalize, add_eos = True, True  # train's inputs (EOS appended) and its default normalisation
        length = _positions_cap(config)
    else:
        raise EvalError(missing_model_files(root, "--model"))  # a Hub snapshot with none of them
    if not (model_path / "config.json").is_file():
        raise EvalError(f"--model {root}: no config.json in {model_path} (not a Hugging Face model dir)")
    if template is not None and "{instruction}" not in template:
        raise EvalError(
            f"{root / SPEC_FILE}: query_template must contain '{{instruction}}', got {template!r}"
        )
    length = max_length or length
    if length < 2:
        raise EvalError(f"--max-length {length}: must be >= 2")
    return ModelSpec(
        path=model_path,
        name=name,
        kind=kind,
        pooling=pooling,
        normalize=normalize,
        add_eos=add_eos,
        query_template=template,
        default_instruction=default_instruction,
        max_length=length,
        fingerprint=model_fingerprint(model_path, root),
        matryoshka_dims=matryoshka if kind == "synthembed" else (),
    )


def _only_plain_dirs_take_pooling(pooling: str | None, recorded_in: Path) -> None:
    if pooling is not None:
        raise EvalError(
            f"--pooling {pooling}: only for plain Hugging Face dirs; {recorded_in} records this model's pooling"
        )


def _read_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise EvalError(f"{path}: cannot read the model config ({e})") from None
    if not isinstance(config, dict):
        raise EvalError(f"{path}: expected a JSON object")
    return config


def default_pooling(config: dict) -> str:
    """``last`` for a causal (decoder) LM, ``mean`` for an encoder, from a ``config.json`` dict.

    A decoder is a config with ``is_decoder``, an architecture named ``*ForCausalLM``/``*LMHeadModel``,
    or a model type transformers knows only as a causal LM (mistral, llama, qwen2: a bare
    ``MistralModel`` saved by ``AutoModel``). Types that also have a masked-LM head (bert, roberta,
    xlm-roberta) are encoders unless the config says otherwise.

        {"model_type": "mistral", "architectures": ["MistralForCausalLM"]} -> "last"
        {"model_type": "bert", "architectures": ["BertModel"]}             -> "mean"
    """
    if config.get("is_decoder"):
        return "last"
    if any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures") or []):
        return "last"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = config.get("model_type")
    causal = kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "last" if causal else "mean"


def _positions_cap(config: dict) -> int:
    """512, or fewer when learned absolute positions end sooner (RoPE models may run past theirs)."""
    positions = config.get("max_position_embeddings")
    rope = config.get("rope_theta") or config.get("rope_parameters") or config.get("rope_scaling")
    if isinstance(positions, int) and positions > 0 and not rope:
        return min(DEFAULT_MAX_LENGTH, positions)
    return DEFAULT_MAX_LENGTH


def _read_ours(root: Path) -> _SpecFile:
    path = root / SPEC_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        spec = _SpecFile.model_validate(raw)
    except json.JSONDecodeError as e:
        raise EvalError(f"{path}: not valid JSON ({e.msg})") from None
    except ValidationError as e:
        err = e.errors()[0]
        raise EvalError(f"{path}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if spec.format_version != SUPPORTED_FORMAT:
        raise EvalError(
            f"{path}: format_version {spec.format_version} is not supported (this eval reads {SUPPORTED_FORMAT})"
        )
    assert spec.pooling in POOLING_MODES, f"{spec.pooling} not in {POOLING_MODES}"
    return spec


def _read_sentence_transformers(root: Path) -> tuple[Path, str, bool, int]:
    """(transformer dir, pooling, normalize, max length) from a sentence-transformers dir."""
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalError(f"{root / 'modules.json'}: not valid JSON ({e.msg})") from None
    by_kind = {m["type"].rsplit(".", 1)[-1]: m for m in modules}
    if "Transformer" not in by_kind or "Pooling" not in by_kind:
        raise EvalError(
            f"{root / 'modules.json'}: expected Transformer and Pooling modules, found {sorted(by_kind)}"
        )
    model_path = root / by_kind["Transformer"].get("path", "")
    pool_cfg_path = root / by_kind["Pooling"]["path"] / "config.json"
    try:
        pool_cfg = json.loads(pool_cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise EvalError(f"{pool_cfg_path}: cannot read the pooling config ({e})") from None
    mode = pool_cfg.get("pooling_mode")
    if mode is None:  # sentence-transformers < 5 wrote one boolean per mode
        active = [m for key, m in _ST_LEGACY.items() if pool_cfg.get(key)]
        others = [
            k for k, v in pool_cfg.items() if k.startswith("pooling_mode_") and v and k not in _ST_LEGACY
        ]
        mode = active[0] if len(active) == 1 and not others else "+".join(active + others) or "none"
    if mode not in _ST_POOLING:
        raise EvalError(
            f"{pool_cfg_path}: pooling mode {mode!r} is not supported; supported: {', '.join(_ST_POOLING)}"
        )
    length = DEFAULT_MAX_LENGTH
    st_cfg = model_path / "sentence_bert_config.json"
    if st_cfg.is_file():
        length = int(json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length") or length)
    return model_path, _ST_POOLING[mode], "Normalize" in by_kind, length


def model_fingerprint(model_path: Path, root: Path) -> str:
    """sha256 over config/spec file contents and each weight file's name, size and mtime.

    Weights are not hashed byte by byte (gigabytes); a rewritten weight file changes its mtime.
    """
    h = hashlib.sha256()
    bases = [model_path] if model_path == root else [root, model_path]  # a list: set order varies per process
    for name in ("config.json", SPEC_FILE, "modules.json", "tokenizer.json", "tokenizer_config.json"):
        for base in bases:
            if (base / name).is_file():
                h.update(name.encode() + (base / name).read_bytes())
    for f in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()
