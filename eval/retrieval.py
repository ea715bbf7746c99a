"""Offline retrieval on a local BEIR dir: ``python -m eval.retrieval --model M --data DIR``.

Writes ``{"model", "data", "split", "instruction", "scores": {ndcg_at_10, mrr_at_10, recall_at_100,
map_at_100, ...}}`` to ``--out`` and prints the headline metrics.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.beir import load_beir
from eval.cli import run_main
from eval.errors import EvalError
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

    def __post_init__(self) -> None:
        try:
            self.ks = tuple(sorted({int(k) for k in self.k_values.split(",") if k.strip()}))
        except ValueError:
            raise EvalError(f"--k-values {self.k_values!r}: expected comma-separated integers") from None
        if not self.ks or min(self.ks) < 1:
            raise EvalError(f"--k-values {self.k_values!r}: need at least one k >= 1")


def main(cfg: Config) -> dict:
    data = load_beir(Path(cfg.data), cfg.split)  # parse and check the files before loading a model
    encoder = cfg.load_encoder()
    default = encoder.spec.default_instruction or GENERIC_INSTRUCTION
    instruction = pick_instruction(encoder, cfg.instruction, default)  # None for a model without
    scores, _ = evaluate_retrieval(encoder, data, instruction, cfg.ks)
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        "data": str(cfg.data),
        "split": cfg.split,
        "instruction": instruction,
        "num_queries": len(data.queries),
        "num_docs": len(data.corpus),
        "scores": scores,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path = out_file(cfg.out, "retrieval.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    headline = " ".join(f"{k}={scores[k]:.4f}" for k in HEADLINE if k in scores)
    print(f"{headline} instruction={describe_instruction(instruction)}  -> {path}")
    return result


if __name__ == "__main__":
    run_main(Config, main)
