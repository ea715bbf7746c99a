"""The one encoder: text -> embeddings with the same tokenization, pooling and EOS as training.

Queries get the model's instruction template (``Instruct: {instruction}\\nQuery: {query}`` for our
models trained with instructions), documents nothing; a model trained without instructions (ours
with ``--query-format plain``, sentence-transformers and plain Hugging Face dirs) gets none, unless
``use_instructions="yes"`` forces the E5 template on it (``"no"``: never any). The forward pass is :func:`train.modeling.embed`, tokenization of
EOS-terminated inputs is :func:`train.inputs.tokenize`, so a vector here is the vector training
optimised. Speed: inputs are sorted by token length and batched under a padded-token budget
(:mod:`eval.batching`), weights run in bf16 on a GPU (fp16 on request), and a corpus already
encoded by the same model with the same settings is read from the on-disk cache (:mod:`eval.cache`).
Within one run (one :class:`Encoder`), a text is embedded once: a string repeated in a list, or met
again in a later call (the same corpus text in two languages' files, the English side of several
bitext files) takes the vector already computed; :attr:`Encoder.stats` counts both kinds.

    enc = Encoder.load("models/e5-syn", cache_dir=Path("~/.cache/synthembed"))
    q = enc.encode(["what is rope?"], instruction="Given a question, retrieve passages that answer it")
    d = enc.encode(["RoPE rotates query and key vectors ..."])
    (q @ d.T) -> cosine similarity, since both are unit length

Not handled: multi-GPU data parallel encoding (use mteb's runners for that scale), quantisation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from common.query_format import QUERY_TEMPLATE
from eval.batching import plan_batches
from eval.cache import EmbeddingCache, texts_key
from eval.errors import EvalError
from eval.model_spec import ModelSpec, read_spec
from train.embedder import ConfigError, choose_dtype, embed, load_backbone, sep_as_eos, tokenize

log = logging.getLogger(__name__)
# Bump when a change here changes the vectors, so that older cache entries are never read back.
CACHE_VERSION = 1
USE_INSTRUCTIONS = ("auto", "yes", "no")


def check_use_instructions(value: str) -> None:
    if value not in USE_INSTRUCTIONS:
        raise EvalError(f"--use-instructions {value!r}: valid values are {', '.join(USE_INSTRUCTIONS)}")


def query_template_for(spec: ModelSpec, use_instructions: str) -> str | None:
    """The template queries get: the model's own under "auto" (None when trained without instructions),
    the model's or E5's under "yes", None under "no"."""
    check_use_instructions(use_instructions)
    if use_instructions == "no":
        return None
    if use_instructions == "yes":
        return spec.query_template or QUERY_TEMPLATE
    return spec.query_template


class TextEncoder(Protocol):
    """What the evaluators need; :class:`Encoder` implements it, tests pass oracles."""

    def encode(
        self, texts: Sequence[str], *, instruction: str | None = None, normalize: bool | None = None
    ) -> np.ndarray: ...


def check_dim(dim: int | None, spec: ModelSpec, model) -> int | None:
    """``--dim K``: 1 <= K <= the model's width; a warning when a Matryoshka model was not trained for K."""
    if dim is None:
        return None
    width = getattr(getattr(model, "config", None), "hidden_size", None)
    if dim < 1 or (width is not None and dim > width):
        raise EvalError(f"--dim {dim}: must be between 1 and the model's embedding size {width}")
    if spec.matryoshka_dims and dim not in spec.matryoshka_dims:
        log.warning(
            "--dim %d: %s was trained for the prefixes %s, not this one",
            dim,
            spec.name,
            ",".join(map(str, spec.matryoshka_dims)),
        )
    return dim


def pick_device(device: str) -> torch.device:
    """ "auto": the GPU when there is one; otherwise the named device, checked to exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise EvalError(f"--device {device}: not a device name (auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EvalError(f"--device {device}: no CUDA device is available here; use --device cpu or auto")
    return dev


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """ "auto" = training's choice (bf16 on a GPU that has it, else fp32; fp16 only when asked for,
    since fp16 with left padding can overflow to NaN embeddings, see train.backbone)."""
    if dtype == "auto":
        return choose_dtype(cuda=device.type == "cuda")
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise EvalError(f"--dtype {dtype}: valid values are auto, {', '.join(table)}")
    return table[dtype]


def load_model(spec: ModelSpec, device: torch.device, dtype: torch.dtype, rope_theta: float | None = None):
    """(model, tokenizer) from ``spec.path``, set up by training's own loader (attention, RoPE base)."""
    from transformers import AutoTokenizer

    try:
        model = load_backbone(str(spec.path), dtype=dtype, rope_theta=rope_theta)
        tokenizer = AutoTokenizer.from_pretrained(spec.path)
    except ConfigError as e:
        raise EvalError(str(e)) from None
    # A broken dir surfaces as OSError, ValueError, KeyError, SafetensorError, JSON errors... from
    # transformers; all mean "this dir cannot be loaded", reported as one line with the reason.
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EvalError(f"--model {spec.path}: cannot load the model ({first})") from None
    cfg = model.config
    has_rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_theta", None)
    positions = getattr(cfg, "max_position_embeddings", None)
    if not has_rope and positions and spec.max_length > positions:
        # Learned absolute positions stop at max_position_embeddings; RoPE models may go past it.
        raise EvalError(
            f"--model {spec.path}: max length {spec.max_length} exceeds the model's {positions} positions"
        )
    # Inputs are cut to spec.max_length when they are embedded, so transformers' "Token indices
    # sequence length is longer than the specified maximum sequence length ... will result in
    # indexing errors" (said once per tokenizer, when a text is counted or split before the cut) is
    # false here. It is marked as said already, for this tokenizer only.
    tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    if spec.add_eos and tokenizer.eos_token_id is None:
        sep_as_eos(tokenizer)  # train's rule: an encoder's [SEP] ends the sequence in EOS's place
    if spec.add_eos and tokenizer.eos_token_id is None:
        raise EvalError(
            f"--model {spec.path}: the tokenizer has no EOS token, which last-token pooling needs"
        )
    return model.to(device).eval(), tokenizer


def default_max_tokens(device: torch.device) -> int:
    """Padded tokens per batch. CPU: 2048, since padding is pure extra work there and small batches
    cost little; GPU: 32768, large enough to fill the device, small enough that 8192-token passkey
    documents come 4 to a batch instead of ``batch_size`` (memory stays bounded)."""
    return 32768 if device.type == "cuda" else 2048


@dataclass
class EncodeStats:
    """Texts asked for in one run: ``encoded`` went through the model, ``cached`` did not (the on-disk
    cache had their list, or the same string was embedded earlier in the run or the same call)."""

    encoded: int = 0
    cached: int = 0

    @property
    def total(self) -> int:
        return self.encoded + self.cached


def _text_key(text: str, normalize: bool) -> bytes:
    # 16-byte digests keep the run's memo small: a corpus of millions of texts costs tens of MB.
    return hashlib.blake2b(f"{int(normalize)}\0{text}".encode(), digest_size=16).digest()


class Encoder:
    """Batched, length-sorted, cached embedding with one model. See the module docstring."""

    def __init__(
        self,
        model,
        tokenizer,
        spec: ModelSpec,
        *,
        batch_size: int = 32,
        cache: EmbeddingCache | None = None,
        sort_by_length: bool = True,
        max_tokens: int | None = None,
        show_progress: bool = True,
        settings: dict | None = None,
        use_instructions: str = "auto",
        dim: int | None = None,
    ) -> None:
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        self.dim = check_dim(dim, spec, model)
        self.query_template = query_template_for(spec, use_instructions)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.cache = cache
        self.sort_by_length = sort_by_length
        self.show_progress = show_progress
        # Everything besides the texts that changes the vectors; part of each cache key.
        self.settings = {
            "cache_version": CACHE_VERSION,
            "fingerprint": spec.fingerprint,
            "pooling": spec.pooling,
            "add_eos": spec.add_eos,
            "max_length": spec.max_length,
            **(settings or {}),
            **({"dim": self.dim} if self.dim is not None else {}),  # absent: cache keys as before --dim
        }
        self.device = next(model.parameters()).device
        self.stats = EncodeStats()
        # Text (with its template) and normalisation -> (array, row) of a vector embedded in this run.
        # The arrays are the cache's read-only memmaps when the disk cache is on, so the memo pins
        # no embeddings in RAM; without it they are the arrays returned earlier.
        self._memo: dict[bytes, tuple[np.ndarray, int]] = {}

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_length: int | None = None,
        rope_theta: float | None = None,
        batch_size: int = 32,
        max_tokens: int | None = -1,
        cache_dir: Path | None = None,
        sort_by_length: bool = True,
        show_progress: bool = True,
        pooling: str | None = None,
        use_instructions: str = "auto",
        dim: int | None = None,
    ) -> Encoder:
        """``max_tokens`` -1: the device's default (:func:`default_max_tokens`); None: no budget.
        ``pooling``: for plain Hugging Face dirs; ``use_instructions``: auto, yes or no (module doc)."""
        check_use_instructions(use_instructions)  # before any file is read or model loaded
        spec = read_spec(name_or_path, max_length=max_length, pooling=pooling)
        dev = pick_device(device)
        torch_dtype = pick_dtype(dtype, dev)
        model, tokenizer = load_model(spec, dev, torch_dtype, rope_theta)
        settings = {"dtype": str(torch_dtype), "rope_theta": rope_theta}
        cache = EmbeddingCache(cache_dir, texts_key(settings, [spec.fingerprint])) if cache_dir else None
        template = query_template_for(spec, use_instructions)
        log.info(
            "loaded %s (%s, pooling=%s, max_length=%d, %s on %s, %s)",
            spec.name,
            spec.kind,
            spec.pooling,
            spec.max_length,
            torch_dtype,
            dev,
            "no instructions" if template is None else f"queries as {template!r}",
        )
        return cls(
            model,
            tokenizer,
            spec,
            batch_size=batch_size,
            cache=cache,
            sort_by_length=sort_by_length,
            max_tokens=default_max_tokens(dev) if max_tokens == -1 else max_tokens,
            show_progress=show_progress,
            settings=settings,
            use_instructions=use_instructions,
            dim=dim,
        )

    @property
    def takes_instructions(self) -> bool:
        """Whether an instruction given to :meth:`encode` reaches the model (see the module doc)."""
        return self.query_template is not None

    def format(self, texts: Sequence[str], instruction: str | None) -> list[str]:
        """Apply the query template when there is an instruction and the model takes one."""
        if not instruction or self.query_template is None:
            return list(texts)
        return [self.query_template.format(instruction=instruction, query=t) for t in texts]

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """(B, T) input_ids and attention_mask, truncated to ``spec.max_length`` tokens."""
        if self.spec.add_eos:
            return tokenize(self.tokenizer, texts, self.spec.max_length)
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.spec.max_length, return_tensors="pt"
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _batches(self, texts: list[str]) -> list[np.ndarray]:
        """Index batches, longest first by token count (see :mod:`eval.batching`)."""
        if not self.sort_by_length:
            return plan_batches([0] * len(texts), self.batch_size, sort=False)
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        # +2: room for the BOS/EOS or CLS/SEP the model sees; truncation caps the rest.
        return plan_batches(
            np.minimum(np.asarray(lengths) + 2, self.spec.max_length), self.batch_size, self.max_tokens
        )

    def encode(
        self, texts: Sequence[str], *, instruction: str | None = None, normalize: bool | None = None
    ) -> np.ndarray:
        """(N,) texts -> (N, H) float32; ``normalize`` None means what the model dir says."""
        inputs = self.format(texts, instruction)
        normalize = self.spec.normalize if normalize is None else normalize
        if not inputs:
            raise EvalError("nothing to encode: the input list is empty")
        key = texts_key({**self.settings, "normalize": normalize}, inputs) if self.cache else None
        keys = [_text_key(t, normalize) for t in inputs]
        if self.cache and key and (hit := self.cache.get(key)) is not None:
            self.stats.cached += len(inputs)
            self._remember(keys, hit)
            return np.asarray(hit)
        todo = {}  # text key -> first position of a text not embedded yet in this run
        for i, k in enumerate(keys):
            if k not in self._memo:
                todo.setdefault(k, i)
        self.stats.encoded += len(todo)
        self.stats.cached += len(inputs) - len(todo)
        fresh = self._embed([inputs[i] for i in todo.values()], normalize) if todo else None  # (M, H)
        for row, k in enumerate(todo):
            self._memo[k] = (fresh, row)
        if len(todo) == len(inputs):  # the common case: nothing repeated, nothing seen before
            out = fresh
        else:
            out = np.stack([np.asarray(arr[row]) for arr, row in (self._memo[k] for k in keys)])  # (N, H)
        if self.cache and key:
            self._remember(keys, self.cache.put(key, out))
        return out

    def _remember(self, keys: list[bytes], embeddings: np.ndarray) -> None:
        for row, k in enumerate(keys):
            self._memo[k] = (embeddings, row)

    def _embed(self, inputs: list[str], normalize: bool) -> np.ndarray:
        """(M,) formatted texts -> (M, H) float32 through the model, length-sorted batches."""
        out: np.ndarray | None = None
        batches = self._batches(inputs)
        for idx in tqdm(
            batches, desc=f"encode {len(inputs)} texts", disable=not self.show_progress, leave=False
        ):
            batch = {k: v.to(self.device) for k, v in self.tokenize([inputs[i] for i in idx]).items()}
            with torch.inference_mode():
                emb = embed(self.model, batch, self.spec.pooling, normalize=normalize)  # (B, H) float32
                if self.dim is not None:  # the prefix, re-normalised: what Matryoshka training scored
                    emb = emb[:, : self.dim]
                    emb = torch.nn.functional.normalize(emb, p=2, dim=-1) if normalize else emb
            if out is None:
                out = np.empty((len(inputs), emb.shape[1]), dtype=np.float32)
            out[idx] = emb.cpu().numpy()
        assert out is not None
        return out
