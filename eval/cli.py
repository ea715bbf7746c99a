"""Dataclass configs at the CLI edge: one typed config per entry point, help text in one place.

Each entry point declares ``@dataclass class Config`` whose fields carry ``metadata={"help": ...}``;
:func:`parse` builds the argparse parser from it (``--out-dir`` for ``out_dir``), so the help text
is written once. :func:`run_main` turns :class:`~eval.errors.EvalError` into one line on stderr and
exit status 2.

    @dataclass
    class Config:
        model: str = field(metadata={"help": "model dir or Hub id"})
        batch_size: int = field(default=32, metadata={"help": "texts per forward pass"})

    parse(Config, ["--model", "m", "--batch-size", "8"]) -> Config(model="m", batch_size=8)

Not handled: nested dataclasses, list-typed fields (use comma-separated strings and split them in
``__post_init__``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eval.errors import EvalError

T = TypeVar("T")


def _arg_type(tp: Any) -> tuple[type, bool]:
    """(scalar type, optional?) for ``int``, ``str | None``, ``float | None``, ``bool``..."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and args:
        return args[0], True
    if typing.get_origin(tp) is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    return tp, False


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per dataclass field; fields without default are required."""
    parser = argparse.ArgumentParser(description=description or (cls.__doc__ or "").strip().split("\n")[0])
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        help_text = f.metadata.get("help")
        assert help_text, f"{cls.__name__}.{f.name} needs metadata help text"
        flag = "--" + f.name.replace("_", "-")
        tp, _ = _arg_type(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = (
            None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        )
        choices = None
        if typing.get_origin(hints[f.name]) is typing.Literal:
            choices = list(typing.get_args(hints[f.name]))
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            shown = "" if required else f" (default: {default})"
            parser.add_argument(
                flag, type=tp, default=default, required=required, choices=choices, help=help_text + shown
            )
    return parser


def parse(cls: type[T], argv: Sequence[str] | None = None) -> T:
    """Parse ``argv`` into ``cls``; a bad cross-field value raises EvalError from ``__post_init__``."""
    ns = build_parser(cls).parse_args(argv)
    return cls(**vars(ns))  # EvalError from __post_init__ propagates to run_main


def run_main(cls: type[T], main: Callable[[T], Any], argv: Sequence[str] | None = None) -> None:
    """The whole ``__main__`` of an entry point: logging, parse, run, and one-line errors."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mteb", "datasets", "httpx", "urllib3"):  # their INFO lines drown ours
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        main(parse(cls, argv))
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
