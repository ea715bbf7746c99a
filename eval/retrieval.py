"""Offline retrieval on local BEIR dirs: ``python -m eval.retrieval --model M --data DIR [more dirs, globs]``.

Writes ``{"model", "split", "instruction", "files": [{"data", "language", "num_queries",
"num_docs", "scores": {ndcg_at_10, mrr_at_10, recall_at_100, map_at_100, ...}}], "summary": {...}}``
to ``--out`` (a one-dir run also has that dir's ``data``, ``num_*`` and ``scores`` at the top
level), a bar plot of nDCG@10 per language beside it, and prints the headline metrics per dir and
the table (:mod:`eval.tables`). Queries in one language over a corpus in another (cross-lingual
retrieval) are a BEIR dir like any other.
With ``--mode`` other than dense (a model trained with ``--heads``, :mod:`eval.m3_search`) each
file entry also holds ``"modes": {mode: {scores, search_s, index_bytes, ...}}`` ("scores" is the
first mode's) and a table per mode is printed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from eval import tables
from eval.beir import load_beir
from eval.cli import run_main
from eval.errors import EvalError
from eval.m3_search import evaluate_modes, parse_fusion_weights, parse_modes, table
from eval.metrics import DEFAULT_K, HEADLINE, per_query_scores
from eval.offline import evaluate_retrieval
from eval.options import EncoderOptions, out_file, pick_instruction

log = logging.getLogger(__name__)
GENERIC_INSTRUCTION = "Given a query, retrieve relevant documents that answer the query"


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate retrieval on a local BEIR dir (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."""

    data: list[Path] = field(
        metadata={
            "help": "BEIR dirs with corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv, dirs of them, or quoted globs"
        }
    )
    split: str = field(default="test", metadata={"help": "qrels split to read: qrels/SPLIT.tsv"})
    instruction: str | None = field(
        default=None,
        metadata={
            "help": "task instruction put on queries (documents get none); '' for none; default: the model's "
            f"query_instruction from synthembed.json, else {GENERIC_INSTRUCTION!r}. Only models trained with "
            "instructions get one (see --use-instructions)"
        },
    )
    k_values: str = field(
        default=",".join(map(str, DEFAULT_K)), metadata={"help": "comma-separated cutoffs k"}
    )
    out: str = field(
        default="results",
        metadata={"help": "results .json file (plot beside it), or a dir that gets retrieval.json"},
    )
    mode: str = field(
        default="dense",
        metadata={
            "help": "comma list of dense, sparse (exact inverted index over lexical weights), colbert (late "
            "interaction over the dense top --rerank-k), hybrid (--weights fusion), or all; all but dense need "
            "a model trained with --heads"
        },
    )
    rerank_k: int = field(
        default=100,
        metadata={
            "help": "candidates per query that colbert and hybrid re-score (the whole corpus when smaller)"
        },
    )
    per_query: bool = field(
        default=False,
        metadata={
            "help": "also write every query's nDCG/MAP/Recall@k (dense mode), for paired comparisons of two "
            "models (a bootstrap over queries)"
        },
    )
    weights: str = field(
        default="1,0.3,1",
        metadata={"help": "hybrid's dense,sparse,colbert score weights (M3's fusion: 1,0.3,1)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.data, (str, Path)):  # one path from Python callers
            self.data = [Path(self.data)]
        try:
            self.ks = tuple(sorted({int(k) for k in self.k_values.split(",") if k.strip()}))
        except ValueError:
            raise EvalError(f"--k-values {self.k_values!r}: expected comma-separated integers") from None
        if not self.ks or min(self.ks) < 1:
            raise EvalError(f"--k-values {self.k_values!r}: need at least one k >= 1")
        self.modes, self.fusion = parse_modes(self.mode), parse_fusion_weights(self.weights)
        if self.rerank_k < 1:
            raise EvalError(f"--rerank-k must be >= 1, got {self.rerank_k}")


def main(cfg: Config) -> dict:
    paths = tables.expand_data(cfg.data, kind="beir")
    # Check every dir before loading a model; each is read again in its turn, so that only one
    # corpus is held at a time (a one-dir run reads it once).
    first = load_beir(paths[0], cfg.split)
    for p in paths[1:]:
        load_beir(p, cfg.split)
    out_file(cfg.out, "retrieval.json", create=False)  # a bad --out is known before the encoding
    encoder = cfg.load_encoder()
    default = encoder.spec.default_instruction or GENERIC_INSTRUCTION
    instruction = pick_instruction(encoder, cfg.instruction, default)  # None for a model without
    files, rows, languages = [], [], []
    for i, path in enumerate(paths):
        data = first if i == 0 else load_beir(path, cfg.split)
        first = None
        modes = per_query = None
        if cfg.modes == ("dense",):
            scores, run = evaluate_retrieval(encoder, data, instruction, cfg.ks)
            if cfg.per_query:
                per_query = per_query_scores(data.qrels, run, cfg.ks)
        else:  # a --heads model: one pass encodes every head, each mode searches its own index
            modes = evaluate_modes(encoder, data, instruction, cfg.modes, cfg.ks, cfg.rerank_k, cfg.fusion)
            scores = modes[cfg.modes[0]]["scores"]
            print(table(modes))
        files.append(
            {
                "data": str(path),
                "num_queries": len(data.queries),
                "num_docs": len(data.corpus),
                "scores": scores,
                **({"modes": modes} if modes else {}),
                **({"per_query": per_query} if per_query else {}),
            }
        )
        languages.append(data.language)
    for entry, name in zip(files, tables.labels(paths, languages), strict=True):
        entry["language"] = name
        rows.append(tables.Row(name, entry["num_queries"], entry["scores"]["ndcg_at_10"]))
        headline = " ".join(f"{k}={entry['scores'][k]:.4f}" for k in HEADLINE if k in entry["scores"])
        print(f"{name}: {headline}")
    return tables.write_run(
        cfg,
        getattr(encoder, "stats", None),
        file_name="retrieval.json",
        title="Retrieval",
        metric="ndcg_at_10",
        size_name="queries",
        instruction=instruction,
        files=files,
        rows=rows,
        head={"split": cfg.split},
    )


if __name__ == "__main__":
    run_main(Config, main)
