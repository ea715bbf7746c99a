"""The edge of every eval entry point: parse the flags, run, and report an EvalError as one line.

Each entry point declares ``@dataclass class Config`` whose fields carry ``metadata={"help": ...}``;
:mod:`common.cli` builds the parser from it, so the help text is written once. Its ``__main__`` is
``run_main(Config, main)``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from common.cli import build_parser, parse
from common.outdir import disk_error
from eval.errors import EvalError

__all__ = ["build_parser", "run_main"]  # build_parser: for tests that read an entry point's options
T = TypeVar("T")


def run_main(cls: type[T], main: Callable[[T], Any], argv: Sequence[str] | None = None) -> None:
    """The whole ``__main__`` of an entry point: logging, parse, run, and an EvalError (from the
    config's checks or from ``main``) as one line ``error: ...`` with exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mteb", "datasets", "httpx", "urllib3"):  # their INFO lines drown ours
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cfg = None
    try:
        cfg = parse(cls, argv)  # a bad flag exits here: `eval.NAME: error: ...`, status 2
        main(cfg)
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as e:  # a disk that filled up or turned read-only while results were written
        line = disk_error(e, Path(str(getattr(cfg, "out", "."))), "rerun the same command")
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        raise SystemExit(1) from None
