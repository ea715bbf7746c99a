"""Writing the model dir: merged weights, tokenizer, sentence-transformers files, adapter, card.

    OUTPUT/
      config.json, model*.safetensors      merged backbone (AutoModel; vLLM embedding mode)
      tokenizer*                           its post-processor appends EOS, so ST/vLLM inputs match ours
      modules.json, sentence_bert_config.json, 1_Pooling/, 2_Normalize/,
      config_sentence_transformers.json    Transformer -> Pooling (lasttoken|mean) -> Normalize, "query" prompt
      adapter/                             the LoRA adapter alone (peft)
      synthembed.json                      format_version 1: pooling, matryoshka_dims, query format and template (null when
                                           trained without instructions), max length, training
      README.md                            model card from data_cards/model_card.md.j2

The ST files use the classic (sentence-transformers 2-5) layout, which ST 6 and vLLM also read.
The merge is done on a freshly loaded base (not on the training model), so a 4-bit or ZeRO-3
sharded training model never leaks into the export.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from common.query_format import QUERY_TEMPLATE, format_query
from train.backbone import add_lora, load_backbone
from train.inputs import leading_special, tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def add_eos_post_processor(tokenizer) -> None:
    """Make the fast tokenizer append EOS (after BOS/[CLS] + text) when it adds special tokens.

    sentence-transformers and vLLM tokenize with the tokenizer's own special-token logic; without
    this they would pool the last word instead of the EOS our model was trained on.
    """
    from tokenizers.processors import TemplateProcessing

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; cannot install an EOS post-processor"
        )
    prefix = leading_special(
        tokenizer
    )  # the same BOS/[CLS] rule as train.inputs.tokenize, read before any change
    if hasattr(tokenizer, "add_eos_token"):
        # Llama-style tokenizers rebuild their processor from these flags on load; set them first,
        # because setting them also rebuilds it now, and that rebuild knows nothing of [CLS].
        try:
            tokenizer.add_eos_token = True
        except AttributeError:
            pass
    bos = tokenizer.convert_ids_to_tokens(prefix[0]) if prefix else None
    eos = tokenizer.eos_token
    head = f"{bos}:0 " if bos else ""
    specials = [(eos, tokenizer.eos_token_id)] + ([(bos, prefix[0])] if bos else [])
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{head}$A:0 {eos}:0",
        pair=f"{head}$A:0 {eos}:0 $B:1 {eos}:1",
        special_tokens=specials,
    )


PROBE = "a b c"  # any text; the check compares whole id sequences


def check_same_ids(tokenizer, expected: list[int], where: str) -> None:
    """The tokenizer's own special-token output must equal what train.inputs.tokenize gives."""
    ids = tokenizer(PROBE, add_special_tokens=True)["input_ids"]
    if ids != expected:
        raise RuntimeError(
            f"{where}: tokenizes {PROBE!r} as {ids}, but training used {expected} (EOS/BOS lost?); refusing to export"
        )


def export_tokenizer(tokenizer, output: Path) -> None:
    """Save ``tokenizer`` so that its own special-token logic reproduces training ids; verify after reload."""
    from transformers import AutoTokenizer

    # What training fed the model for PROBE; the saved tokenizer must give exactly this.
    expected = tokenize(tokenizer, [PROBE], max_length=64)["input_ids"][0].tolist()
    add_eos_post_processor(tokenizer)
    check_same_ids(tokenizer, expected, "tokenizer")
    tokenizer.save_pretrained(output)
    check_same_ids(AutoTokenizer.from_pretrained(output), expected, f"{output} (reloaded tokenizer)")


def check_tokenizer_exports(tokenizer) -> None:
    """Dry run of ``export_tokenizer`` on a copy, in a temporary dir: run it before training so a
    tokenizer that cannot be made to append EOS fails in seconds, not after the last step."""
    import copy
    import tempfile

    with tempfile.TemporaryDirectory(prefix="synthembed-tok-") as tmp:
        export_tokenizer(copy.deepcopy(tokenizer), Path(tmp))


def _st_files(
    output: Path, *, hidden: int, pooling: str, normalize: bool, max_length: int, query_prompt: str
) -> None:
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    modules.append(
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    )
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
        (output / "2_Normalize").mkdir(exist_ok=True)
    (output / "modules.json").write_text(json.dumps(modules, indent=2))
    (output / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": False}, indent=2)
    )
    modes = [
        "cls_token",
        "mean_tokens",
        "max_tokens",
        "mean_sqrt_len_tokens",
        "weightedmean_tokens",
        "lasttoken",
    ]
    chosen = "lasttoken" if pooling == "last" else "mean_tokens"
    pool_cfg = {
        "word_embedding_dimension": hidden,
        **{f"pooling_mode_{m}": m == chosen for m in modes},
        "include_prompt": True,
    }
    (output / "1_Pooling").mkdir(exist_ok=True)
    (output / "1_Pooling" / "config.json").write_text(json.dumps(pool_cfg, indent=2))
    import importlib.metadata as md

    def version(
        pkg: str,
    ) -> str:  # recorded for readers; sentence-transformers need not be installed to export
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    st_cfg = {
        "__version__": {
            "sentence_transformers": version("sentence-transformers"),
            "transformers": version("transformers"),
            "pytorch": torch.__version__,
        },
        "prompts": {"query": query_prompt, "document": ""},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    (output / "config_sentence_transformers.json").write_text(json.dumps(st_cfg, indent=2))


def export(
    output: Path,
    *,
    adapter: dict[str, Tensor],
    tokenizer,
    base_model: str,
    dtype: torch.dtype,
    rope_theta: float | None,
    lora: dict[str, Any],
    pooling: str,
    normalize: bool,
    max_length: int,
    query_instruction: str,
    training: dict[str, Any],
    repo_id: str | None = None,
    query_format: str = "instruct",
    matryoshka_dims: list[int] | None = None,
) -> Path:
    """Merge ``adapter`` (names as in the Encoder: ``backbone.<peft name>``) into a fresh base and write all files.

    ``training`` is what the card and synthembed.json record: the run's flags plus steps,
    final_loss, tokens, seconds and rows. ``query_format`` "plain" (trained without instructions)
    records no template, no instruction and an empty sentence-transformers query prompt, so that
    eval and anything reading the prompts (synth.mine's ``auto``) embed queries as trained.
    """
    instructions = query_format == "instruct"
    if query_format not in ("instruct", "plain"):
        raise ValueError(f"unknown query format {query_format!r}; valid: instruct, plain")
    output.mkdir(parents=True, exist_ok=True)
    model = add_lora(load_backbone(base_model, dtype=dtype, rope_theta=rope_theta), **lora)
    state = {k.removeprefix("backbone."): v for k, v in adapter.items()}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"adapter has tensors the model lacks, e.g. {result.unexpected_keys[0]}")
    lora_keys = {n for n, _ in model.named_parameters() if "lora_" in n}
    if lora_keys - state.keys():
        raise RuntimeError(
            f"adapter lacks {len(lora_keys - state.keys())} LoRA tensors, e.g. {sorted(lora_keys - state.keys())[0]}"
        )
    model.save_pretrained(output / "adapter")
    merged = model.merge_and_unload()
    merged.save_pretrained(output)
    leftovers = [f for f in ADAPTER_FILES if (output / f).exists()]
    if leftovers:
        raise RuntimeError(f"{output}: merged save still carries adapter files {leftovers}")

    export_tokenizer(tokenizer, output)

    query_prompt = format_query(query_instruction, "") if instructions else ""
    _st_files(
        output,
        hidden=merged.config.hidden_size,
        pooling=pooling,
        normalize=normalize,
        max_length=max_length,
        query_prompt=query_prompt,
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "pooling": pooling,
        "instructions": instructions,  # trained with instructions: eval uses them only then
        "query_format": query_format,
        "query_template": QUERY_TEMPLATE if instructions else None,
        "query_instruction": query_instruction if instructions else None,
        "max_length": max_length,
        "normalize": normalize,
        "add_eos": True,
        "base_model": base_model,
        # trained with --matryoshka-dims: the prefixes eval's --dim K may cut to ([] = full width only)
        "matryoshka_dims": list(matryoshka_dims or []),
        "training": training,
    }
    (output / "synthembed.json").write_text(json.dumps(meta, indent=2))
    card = {
        "t": training,
        "title": repo_id or output.name,
        "repo_or_path": repo_id or str(output),
        "license": "apache-2.0",
        "base_model": base_model,
        "pooling": pooling,
        "normalize": normalize,
        "max_length": max_length,
        "query_prompt": query_prompt,
        "query_template": QUERY_TEMPLATE if instructions else "{query}",
        "eos_token": tokenizer.eos_token,
    }
    (output / "README.md").write_text(render_card(card))
    log.info("exported %s", output)
    return output


def render_card(values: dict[str, Any]) -> str:
    import jinja2

    from data_cards import TEMPLATE_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("model_card.md.j2").render(**{"query_template": QUERY_TEMPLATE, **values})
