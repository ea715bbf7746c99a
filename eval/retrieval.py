"""Offline retrieval on a local BEIR dir: ``python -m eval.retrieval --model M --data DIR``.

Writes ``{"model", "data", "split", "instruction", "scores": {ndcg_at_10, mrr_at_10, recall_at_100,
map_at_100, ...}}`` to ``--out`` and prints the headline metrics. With ``--mode`` other than dense
(a model trained with ``--heads``, :mod:`eval.m3_search`) the file also holds ``"modes": {mode:
{scores, search_s, index_bytes, ...}}`` ("scores" is the first mode's) and a table per mode is printed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.beir import load_beir
from eval.cli import run_main
from eval.errors import EvalError
from eval.m3_search import evaluate_modes, parse_fusion_weights, parse_modes, table
from eval.metrics import DEFAULT_K, HEADLINE
from eval.offline import evaluate_retrieval
from eval.options import RESULTS_FORMAT, EncoderOptions, describe_instruction, out_file, pick_instruction

log = logging.getLogger(__name__)
GENERIC_INSTRUCTION = "Given a query, retrieve relevant documents that answer the query"


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate retrieval on a local BEIR dir (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."""

    data: Path = field(metadata={"help": "BEIR dir with corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv"})
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
        default="results", metadata={"help": "results .json file, or a dir that gets retrieval.json"}
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
    weights: str = field(
        default="1,0.3,1",
        metadata={"help": "hybrid's dense,sparse,colbert score weights (M3's fusion: 1,0.3,1)"},
    )

    def __post_init__(self) -> None:
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
    data = load_beir(Path(cfg.data), cfg.split)  # parse and check the files before loading a model
    encoder = cfg.load_encoder()
    default = encoder.spec.default_instruction or GENERIC_INSTRUCTION
    instruction = pick_instruction(encoder, cfg.instruction, default)  # None for a model without
    modes = None
    if cfg.modes == ("dense",):
        scores, _ = evaluate_retrieval(encoder, data, instruction, cfg.ks)
    else:  # a --heads model: one pass encodes every head, each mode searches its own index
        modes = evaluate_modes(encoder, data, instruction, cfg.modes, cfg.ks, cfg.rerank_k, cfg.fusion)
        scores = modes[cfg.modes[0]]["scores"]
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        "data": str(cfg.data),
        "split": cfg.split,
        "instruction": instruction,
        "num_queries": len(data.queries),
        "num_docs": len(data.corpus),
        "scores": scores,
        **({"modes": modes} if modes else {}),
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path = out_file(cfg.out, "retrieval.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    if modes:
        print(table(modes))
    headline = " ".join(f"{k}={scores[k]:.4f}" for k in HEADLINE if k in scores)
    print(f"{headline} instruction={describe_instruction(instruction)}  -> {path}")
    return result


if __name__ == "__main__":
    run_main(Config, main)
