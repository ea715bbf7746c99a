"""Offline STS on local pairs files: ``python -m eval.sts --model M --data pairs.tsv [more files, dirs, globs]``.

Each file is TSV or CSV with a header naming sentence1, sentence2 and score (and optionally
language). Writes ``{"model", "instruction", "files": [{"data", "language", "num_pairs", "scores":
{spearman, pearson, ...}}], "summary": {...}}`` to ``--out`` (a one-file run also has that file's
``data``, ``num_pairs`` and ``scores`` at the top level), a bar plot per language beside it, and
prints the table (:mod:`eval.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eval import tables
from eval.cli import run_main
from eval.offline import evaluate_sts
from eval.options import EncoderOptions, out_file, pick_instruction
from eval.sts_file import load_sts

STS_INSTRUCTION = "Retrieve semantically similar text."  # mteb's default for STS, as the paper uses


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate semantic similarity: cosine of the two embeddings against the gold score."""

    data: list[Path] = field(
        metadata={
            "help": "TSV or CSV files with a header naming sentence1, sentence2, score (optional: language); "
            "dirs of them, or quoted globs"
        }
    )
    instruction: str | None = field(
        default=None,
        metadata={
            "help": f"instruction on both sentences; '' for none; default {STS_INSTRUCTION!r}. Only models "
            "trained with instructions get one (see --use-instructions)"
        },
    )
    out: str = field(
        default="results",
        metadata={"help": "results .json file (plot beside it), or a dir that gets sts.json"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.data, (str, Path)):  # one path from Python callers
            self.data = [Path(self.data)]


def main(cfg: Config) -> dict:
    paths = tables.expand_data(cfg.data, kind="file", suffixes=(".tsv", ".csv"))
    datasets = [load_sts(p) for p in paths]  # check every file before loading a model
    out_file(cfg.out, "sts.json", create=False)  # a bad --out is known before the encoding
    encoder = cfg.load_encoder()
    instruction = pick_instruction(encoder, cfg.instruction, STS_INSTRUCTION)  # None for a model without
    names = tables.labels(paths, [d.language for d in datasets])
    files, rows = [], []
    for path, name, data in zip(paths, names, datasets, strict=True):
        scores = evaluate_sts(encoder, data, instruction)
        files.append({"data": str(path), "language": name, "num_pairs": len(data.score), "scores": scores})
        rows.append(tables.Row(name, len(data.score), scores["spearman"]))
        print(f"{name}: spearman={scores['spearman']:.4f} pearson={scores['pearson']:.4f}")
    return tables.write_run(
        cfg,
        getattr(encoder, "stats", None),
        file_name="sts.json",
        title="STS",
        metric="spearman",
        size_name="pairs",
        instruction=instruction,
        files=files,
        rows=rows,
    )


if __name__ == "__main__":
    run_main(Config, main)
