"""Any sentence-transformers model as the :class:`synth.mining.negatives.Encoder` that mining needs.

Query format: `instruct` embeds `common.query_format.format_query(instruction, query)` (the
E5-mistral format our trained models use); `plain` embeds the query alone behind the model's
recorded "query" prompt, if any (e.g. "query: " for multilingual-e5); `auto` picks `instruct` when
one of the model's recorded prompts is in the Instruct format (our exported models, e5-mistral,
gte-Qwen) and `plain` otherwise (all-MiniLM and other models trained without instructions).
Documents get the model's recorded document prompt ("document", "passage" or "corpus"), if any,
and never its default prompt.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from common.query_format import format_query, is_instruct_prompt
from synth.run.secrets import redact

QUERY_FORMATS = ("auto", "instruct", "plain")
DOCUMENT_PROMPTS = ("document", "passage", "corpus")
INSTALL = "pip install 'synthembed[train]' (or: pip install sentence-transformers)"
log = logging.getLogger(__name__)


class EmbedderError(Exception):
    """The model cannot be used; the message is one line naming the model and what is wrong."""


def resolve_query_format(query_format: str, prompts: dict[str, str]) -> str:
    """'auto' -> 'instruct' if a recorded prompt uses the Instruct format, else 'plain'."""
    if query_format not in QUERY_FORMATS:
        raise ValueError(f"--query-format: {query_format!r} is not one of {', '.join(QUERY_FORMATS)}")
    if query_format != "auto":
        return query_format
    return "instruct" if any(is_instruct_prompt(p) for p in prompts.values()) else "plain"


class STEncoder:
    def __init__(self, model, query_format: str, batch_size: int, progress: bool) -> None:
        self.model = model
        prompts = dict(getattr(model, "prompts", None) or {})
        self.query_format = resolve_query_format(query_format, prompts)
        default = prompts.get(getattr(model, "default_prompt_name", None) or "", "")
        # "" rather than None: None would make sentence-transformers add its default prompt.
        self.query_prompt = "" if self.query_format == "instruct" else prompts.get("query", default)
        self.document_prompt = next((prompts[n] for n in DOCUMENT_PROMPTS if n in prompts), "")
        self.batch_size = batch_size
        self.progress = progress

    @classmethod
    def load(cls, name: str, *, device: str, query_format: str, batch_size: int, progress: bool) -> STEncoder:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EmbedderError(
                f"--model: sentence-transformers is not installed ({err}); {INSTALL}"
            ) from err
        looks_local = name.startswith(("/", "./", "../", "~")) or Path(name).exists()
        if looks_local and not Path(name).expanduser().is_dir():
            raise EmbedderError(f"--model: {name} is not a directory")
        try:
            model = SentenceTransformer(
                str(Path(name).expanduser()) if looks_local else name,
                device=None if device == "auto" else device,
            )
        # Loading runs the model's own code and hub client; any failure there means "cannot be loaded".
        except Exception as err:  # noqa: BLE001
            first = (str(err).strip().splitlines() or [""])[0]
            raise EmbedderError(
                f"--model: cannot load {name} as a sentence-transformers model: {type(err).__name__}: {redact(first)}"
            ) from err
        return cls(model, query_format, batch_size, progress)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def encode_queries(self, instructions: list[str], queries: list[str]) -> np.ndarray:
        if self.query_format == "instruct":
            texts = [format_query(i, q) for i, q in zip(instructions, queries, strict=True)]
        else:
            texts = list(queries)
        return self._encode(texts, self.query_prompt, "queries")

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), self.document_prompt, "positives")

    def _encode(self, texts: list[str], prompt: str, what: str) -> np.ndarray:
        log.info("embedding %d distinct %s", len(texts), what)
        emb = self.model.encode(
            texts,
            prompt=prompt,
            batch_size=self.batch_size,
            show_progress_bar=self.progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(emb, dtype=np.float32)  # (N, H)
