"""`python -m synth.card DIR [--license X]`: re-render the data card and plots of a dataset dir."""

from __future__ import annotations

import sys
from pathlib import Path

from synth.card.render import PROG, NotADatasetDir, write_card
from synth.cli import OneLineParser


def cli(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog=PROG, description="Re-render the data card (README.md) and plots of a dataset dir."
    )
    parser.add_argument("dir", type=Path, help="dataset dir written by synth.generate")
    parser.add_argument("--license", default=None,
                        help="license id for the card's metadata (default: the card's current one, else 'other')")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        path = write_card(args.dir, args.license)
    except NotADatasetDir as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
