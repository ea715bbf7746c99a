"""Offline STS on a local pairs file: ``python -m eval.sts --model M --data pairs.tsv``.

The file is TSV or CSV with a header naming sentence1, sentence2 and score. Writes
``{"model", "data", "instruction", "scores": {spearman, pearson, ...}}`` to ``--out``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.cli import run_main
from eval.offline import evaluate_sts
from eval.options import RESULTS_FORMAT, EncoderOptions, out_file
from eval.sts_file import load_sts


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate semantic similarity: cosine of the two embeddings against the gold score."""

    data: Path = field(metadata={"help": "TSV or CSV file with a header naming sentence1, sentence2, score"})
    instruction: str = field(
        default="Retrieve semantically similar text.",
        metadata={"help": "instruction on both sentences (models with a query template only); '' for none"},
    )
    out: str = field(default="results", metadata={"help": "results .json file, or a dir that gets sts.json"})


def main(cfg: Config) -> dict:
    data = load_sts(Path(cfg.data))  # check the file before loading a model
    encoder = cfg.load_encoder()
    # A model without a query template takes no instruction: record that none was used.
    instruction = cfg.instruction if encoder.spec.query_template is not None else ""
    scores = evaluate_sts(encoder, data, instruction or None)
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        "data": str(cfg.data),
        "instruction": instruction or None,
        "num_pairs": len(data.score),
        "scores": scores,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path = out_file(cfg.out, "sts.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"spearman={scores['spearman']:.4f} pearson={scores['pearson']:.4f}  -> {path}")
    return result


if __name__ == "__main__":
    run_main(Config, main)
