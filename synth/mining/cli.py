"""`python -m synth.mine`: hard negatives re-mined from a dataset's own positives with an embedding model.

parse flags -> read the dataset dir and load the model -> mine -> write a NEW dataset dir (`--out`)
with a `mined_negatives` column, stats.json's `mining` section and a re-rendered card. The input dir
is only read. Exit status: 0 done, 1 error (data or model), 2 bad flags, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import fail, parse
from synth.corpus import CorpusError, load_corpus
from synth.dataset import recover_dir
from synth.mining.dirs import (
    DatasetError,
    check_out,
    mining_rows,
    read_stats,
    read_table,
    row_counts,
    with_mined,
    write_mined_dir,
)
from synth.mining.embedder import QUERY_FORMATS, EmbedderError, STEncoder, resolve_query_format
from synth.mining.negatives import MiningOptions, mine
from synth.mining.neighbours import GUARD_DEFAULTS, GUARDS, Guard
from synth.mining.report import copied_card, format_summary, mining_stats, rerender_card

PROG = "synth.mine"


def opt(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class MineConfig:
    data: Path | None = opt(None, "dataset dir to mine (only read)", required=True)
    model: str | None = opt(None, "sentence-transformers model: a local dir or a Hub id", required=True)
    out: Path | None = opt(None, "new dataset dir to write; unset: DATA-mined, beside the input")
    num_negatives: int = opt(7, "mined negatives per row")
    guard: str = opt("relative", f"false-negative guard: {', '.join(GUARDS)} (skip candidates scoring above "
                     "value x the positive's score, or above the positive's score - value)")  # fmt: skip
    guard_value: float | None = opt(
        None, "the guard's ratio or margin; unset: 0.95 for relative, 0.05 for margin"
    )
    by_language: bool = opt(
        True, "mine within each (task type, language); --no-by-language: within task type"
    )
    corpus: Path | None = opt(None, "passages to mine from besides the dataset's positives (a corpus as "
                              "synth.corpus reads it, e.g. the training passages synth.adapt writes)")  # fmt: skip
    consistency_k: int | None = opt(None, "drop rows whose positive ranks below K for its own query (E5: 2)")
    query_format: str = opt("auto", f"query text: {', '.join(QUERY_FORMATS)} (auto: instruct when the model "
                            "records an 'Instruct:' prompt, else plain)")  # fmt: skip
    batch_size: int = opt(64, "texts per encoder batch")
    device: str = opt("auto", "torch device: auto (cuda if available), cpu, cuda, cuda:1, ...")
    progress: bool = opt(True, "show progress bars")

    def __post_init__(self) -> None:
        if self.data is None or not self.model:
            raise ValueError("--data and --model are required")
        if self.out is None:
            self.out = self.data.with_name(f"{self.data.resolve().name}-mined")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {self.batch_size}")
        resolve_query_format(self.query_format, {})  # raises on an unknown format
        self.options()  # raises on bad --guard, --guard-value, --num-negatives, --consistency-k

    def options(self) -> MiningOptions:
        value = GUARD_DEFAULTS.get(self.guard, 0.0) if self.guard_value is None else self.guard_value
        return MiningOptions(
            self.num_negatives, Guard(self.guard, value), self.by_language, self.consistency_k
        )


def main(cfg: MineConfig) -> int:
    started = time.monotonic()
    try:
        table = read_table(cfg.data)
        stats_in = read_stats(cfg.data)
        recover_dir(cfg.out)  # a crash between replace_dir's two renames left OUT aside
        check_out(cfg.data, cfg.out)
        extra = [p.document for p in load_corpus(cfg.corpus).passages] if cfg.corpus else []
        encoder = STEncoder.load(cfg.model, device=cfg.device, query_format=cfg.query_format,
                                 batch_size=cfg.batch_size, progress=cfg.progress)  # fmt: skip
    except (DatasetError, EmbedderError, CorpusError) as err:
        fail(PROG, str(err))
    rows = mining_rows(table)
    try:
        mined = mine(rows, encoder, cfg.options(), progress=cfg.progress, device=encoder.device, extra=extra)
        mining = mining_stats(mined, cfg.options(), source=cfg.data.resolve().name, model=cfg.model,
                              query_format=encoder.query_format, device=encoder.device,
                              elapsed_s=time.monotonic() - started)  # fmt: skip
        kept = [r for r, keep in zip(rows, mined.keep, strict=True) if keep]
        stats = {**stats_in, **row_counts(kept), "mining": mining}
        write_mined_dir(cfg.data, cfg.out, with_mined(table, mined.negatives, mined.keep), stats,
                        copied_card(cfg.data, mining))  # fmt: skip
        rerender_card(cfg.data, cfg.out, stats)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {cfg.out} is as it was before, or complete", file=sys.stderr)
        return 130
    except OSError as err:
        fail(PROG, f"--out: cannot write {cfg.out}: {err}")
    print(format_summary(mining, cfg.out), file=sys.stderr)
    return 0


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = parse(MineConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
