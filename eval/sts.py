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
from eval.options import RESULTS_FORMAT, EncoderOptions, describe_instruction, out_file, pick_instruction
from eval.sts_file import load_sts

STS_INSTRUCTION = "Retrieve semantically similar text."  # mteb's default for STS, as the paper uses


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate semantic similarity: cosine of the two embeddings against the gold score."""

    data: Path = field(metadata={"help": "TSV or CSV file with a header naming sentence1, sentence2, score"})
    instruction: str | None = field(
        default=None,
        metadata={
            "help": f"instruction on both sentences; '' for none; default {STS_INSTRUCTION!r}. Only models "
            "trained with instructions get one (see --use-instructions)"
        },
    )
    out: str = field(default="results", metadata={"help": "results .json file, or a dir that gets sts.json"})


def main(cfg: Config) -> dict:
    data = load_sts(Path(cfg.data))  # check the file before loading a model
    encoder = cfg.load_encoder()
    instruction = pick_instruction(encoder, cfg.instruction, STS_INSTRUCTION)  # None for a model without
    scores = evaluate_sts(encoder, data, instruction)
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        "data": str(cfg.data),
        "instruction": instruction,
        "num_pairs": len(data.score),
        "scores": scores,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path = out_file(cfg.out, "sts.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"spearman={scores['spearman']:.4f} pearson={scores['pearson']:.4f} "
        f"instruction={describe_instruction(instruction)}  -> {path}"
    )
    return result


if __name__ == "__main__":
    run_main(Config, main)
