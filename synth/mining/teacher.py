"""Teachers that score (query, candidate) pairs for `synth.mine --teacher`: a cross-encoder or a bi-encoder.

A teacher maps N (instruction, query, text) triples to N scores, one forward pass per batch:

- `cross-encoder` (sentence-transformers `CrossEncoder`, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2, or
  BAAI/bge-reranker-base): the raw logit of a one-label model on (query, text); no sigmoid, so the
  scores keep their spread for distillation (GPL trains MarginMSE on these margins). The query is
  given plain, as rerankers are trained. A model with more than one label is refused.
- `bi-encoder` (any sentence-transformers model): the cosine of the query's and the text's
  embeddings, with the query format of `synth.mining.embedder` (instruct or plain, `auto` by the
  model's recorded prompts).

The LLM judge is a teacher too (`--teacher-kind judge`), in `synth.mining.teacher_judge`: it grades
each pair with synth.judge's score prompt through a journal; `synth.mining.cli` loads it, not this module.
`kind="auto"` picks cross-encoder for a model whose config names a `...ForSequenceClassification`
architecture, bi-encoder for one laid out for sentence-transformers (modules.json), else asks for
--teacher-kind.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from synth.mining.embedder import INSTALL, EmbedderError, STEncoder
from synth.run.secrets import redact

TEACHER_KINDS = ("auto", "cross-encoder", "bi-encoder", "judge")
log = logging.getLogger(__name__)


class Teacher(Protocol):
    name: str  # what the card and stats call it: the model as given
    kind: str  # one of TEACHER_KINDS but auto
    query_format: str  # how the query was shown: "plain" or "instruct"
    device: str

    def fingerprint(self) -> dict:
        """What the scores depend on besides the texts: a resumed run reuses parts with the same one."""
        ...

    def score(self, instructions: list[str], queries: list[str], texts: list[str]) -> np.ndarray:
        """(N,) float32 scores of each (instruction, query) against its text."""
        ...


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def detect_kind(name: str) -> str:
    """cross-encoder or bi-encoder from a model's files (a local dir, or the Hub cache); EmbedderError if unsure."""
    if name == "judge":
        return "judge"
    config: dict | None = None
    st_layout = False
    if _looks_local(name):
        root = Path(name).expanduser()
        if not root.is_dir():
            raise EmbedderError(f"--teacher: {name} is not a directory")
        st_layout = (root / "modules.json").is_file()
        if (root / "config.json").is_file():
            config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    else:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(name).to_dict()
        except Exception as err:  # noqa: BLE001 - any hub/cache failure means "cannot tell"
            raise EmbedderError(
                f"--teacher: cannot read {name}'s config to tell its kind ({type(err).__name__}); "
                "give --teacher-kind cross-encoder or bi-encoder (or judge, for an LLM)"
            ) from err
    architectures = (config or {}).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures) and not st_layout:
        return "cross-encoder"
    if st_layout or config is not None:
        return "bi-encoder"
    raise EmbedderError(f"--teacher: {name} has neither config.json nor modules.json; give --teacher-kind")


class CrossEncoderTeacher:
    kind = "cross-encoder"
    query_format = "plain"

    def __init__(self, name: str, model, batch_size: int, progress: bool) -> None:
        self.name, self.model, self.batch_size, self.progress = name, model, batch_size, progress

    @classmethod
    def load(cls, name: str, *, device: str, batch_size: int, progress: bool) -> CrossEncoderTeacher:
        try:
            import torch
            from sentence_transformers import CrossEncoder
        except ImportError as err:
            raise EmbedderError(
                f"--teacher: sentence-transformers is not installed ({err}); {INSTALL}"
            ) from err
        path = str(Path(name).expanduser()) if _looks_local(name) else name
        try:  # Identity: the raw logit, not the sigmoid the library applies to one-label models
            model = CrossEncoder(
                path, device=None if device == "auto" else device, activation_fn=torch.nn.Identity()
            )
        except Exception as err:  # noqa: BLE001 - loading runs the model's own code; any failure is "cannot load"
            first = (str(err).strip().splitlines() or [""])[0]
            raise EmbedderError(
                f"--teacher: cannot load {name} as a cross-encoder: {type(err).__name__}: {redact(first)}"
            ) from err
        if model.num_labels != 1:
            raise EmbedderError(
                f"--teacher: {name} has {model.num_labels} labels; a teacher cross-encoder "
                "gives one relevance score (num_labels 1)"
            )
        return cls(name, model, batch_size, progress)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def fingerprint(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "score": "logit",
            "max_length": self.model.max_seq_length,
        }

    def score(self, instructions: list[str], queries: list[str], texts: list[str]) -> np.ndarray:
        pairs = list(zip(queries, texts, strict=True))
        out = self.model.predict(
            pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(out, dtype=np.float32).reshape(len(pairs))  # (N,)


class BiEncoderTeacher:
    kind = "bi-encoder"

    def __init__(self, name: str, encoder: STEncoder) -> None:
        self.name, self.encoder = name, encoder
        self.query_format = encoder.query_format

    @property
    def device(self) -> str:
        return self.encoder.device

    def fingerprint(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "score": "cosine",
            "query_format": self.query_format,
            "query_prompt": self.encoder.query_prompt,
            "document_prompt": self.encoder.document_prompt,
        }

    def score(self, instructions: list[str], queries: list[str], texts: list[str]) -> np.ndarray:
        pairs = list(dict.fromkeys(zip(instructions, queries, strict=True)))
        docs = list(dict.fromkeys(texts))
        q = self.encoder.encode_queries([p[0] for p in pairs], [p[1] for p in pairs])  # (Q, H), unit rows
        d = self.encoder.encode_documents(docs)  # (D, H), unit rows
        q_at = {p: i for i, p in enumerate(pairs)}
        d_at = {t: i for i, t in enumerate(docs)}
        qi = np.fromiter(
            (q_at[p] for p in zip(instructions, queries, strict=True)), dtype=np.int64, count=len(texts)
        )
        di = np.fromiter((d_at[t] for t in texts), dtype=np.int64, count=len(texts))
        return np.einsum("nh,nh->n", q[qi], d[di]).astype(np.float32)  # (N,) cosine


def load_teacher(name: str, kind: str, *, device: str, query_format: str, batch_size: int, progress: bool):
    """The teacher `name` of `kind` (auto: detected from its files); EmbedderError names what is wrong."""
    if kind not in TEACHER_KINDS:
        raise EmbedderError(f"--teacher-kind: {kind!r} is not one of {', '.join(TEACHER_KINDS)}")
    kind = detect_kind(name) if kind == "auto" else kind
    if kind == "cross-encoder":
        return CrossEncoderTeacher.load(name, device=device, batch_size=batch_size, progress=progress)
    if kind == "bi-encoder":
        encoder = STEncoder.load(
            name, device=device, query_format=query_format, batch_size=batch_size, progress=False
        )
        return BiEncoderTeacher(name, encoder)
    raise EmbedderError("--teacher judge is loaded by synth.mining.teacher_judge, not here")
