"""`python -m synth.card DIR [--license X]`: re-render the data card and plots of a dataset dir."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import parse
from synth.card.render import PROG, NotADatasetDir, write_card


@dataclass
class CardConfig:
    """Re-render the data card (README.md) and plots of a dataset dir."""

    dir: Path = field(metadata={"help": "dataset dir written by synth.generate", "positional": True})
    license: str | None = field(
        default=None,
        metadata={
            "help": "license id for the card's metadata (default: the card's current one, else 'other')"
        },
    )


def cli(argv: list[str] | None = None) -> int:
    cfg = parse(CardConfig, argv, PROG)
    try:
        path = write_card(cfg.dir, cfg.license)
    except NotADatasetDir as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
