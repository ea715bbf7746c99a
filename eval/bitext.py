"""Offline bitext mining: ``python -m eval.bitext --model M --data kor-eng.tsv [more files, dirs, globs]``.

Each file is a TSV with a header naming its two languages (``kor<TAB>eng``) and one aligned pair per
line (:mod:`eval.bitext_file`). The computation is mteb's BitextMining: nearest neighbour by cosine
from column 1 into column 2, precision/recall/F1 weighted as mteb's evaluator does (F1 is mteb's
main score). Writes ``{"model", "instruction", "files": [{"data", "language", "num_pairs",
"scores": {precision, recall, f1, accuracy, main_score}}], "summary": {...}}`` to ``--out``
(``bitext.json`` in a dir), a bar plot beside it (``bitext.png``), and prints one line per pair and
the table (:mod:`eval.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eval import tables
from eval.bitext_file import load_bitext
from eval.cli import run_main
from eval.offline import evaluate_bitext
from eval.options import EncoderOptions, out_file, pick_instruction

BITEXT_INSTRUCTION = "Retrieve parallel sentences."  # mteb's default for BitextMining


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Mine translations: each first-column sentence should find its aligned second-column sentence."""

    data: list[Path] = field(
        metadata={"help": "bitext TSV files (header lang1<TAB>lang2), dirs of them, or quoted globs"}
    )
    instruction: str | None = field(
        default=None,
        metadata={
            "help": f"instruction on both sides; '' for none; default {BITEXT_INSTRUCTION!r}. Only models "
            "trained with instructions get one (see --use-instructions)"
        },
    )
    out: str = field(
        default="results",
        metadata={"help": "results .json file (plot beside it), or a dir that gets bitext.json"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.data, (str, Path)):  # one path from Python callers
            self.data = [Path(self.data)]


def main(cfg: Config) -> dict:
    paths = tables.expand_data(cfg.data, kind="file", suffixes=(".tsv",))
    datasets = [load_bitext(p) for p in paths]  # check every file before loading a model
    out_file(cfg.out, "bitext.json", create=False)  # a bad --out is known before the encoding
    encoder = cfg.load_encoder()
    instruction = pick_instruction(encoder, cfg.instruction, BITEXT_INSTRUCTION)  # None for a model without
    names = tables.labels(paths, [d.pair for d in datasets])
    files, rows = [], []
    for path, name, data in zip(paths, names, datasets, strict=True):
        scores = evaluate_bitext(encoder, data, instruction)
        files.append(
            {"data": str(path), "language": name, "num_pairs": len(data.sentences1), "scores": scores}
        )
        rows.append(tables.Row(name, len(data.sentences1), scores["f1"]))
        print(
            f"{name}: f1={scores['f1']:.4f} accuracy={scores['accuracy']:.4f} "
            f"precision={scores['precision']:.4f} ({len(data.sentences1)} pairs)"
        )
    return tables.write_run(
        cfg,
        getattr(encoder, "stats", None),
        file_name="bitext.json",
        title="Bitext mining",
        metric="f1",
        size_name="pairs",
        instruction=instruction,
        files=files,
        rows=rows,
        flat_single=False,
    )


if __name__ == "__main__":
    run_main(Config, main)
