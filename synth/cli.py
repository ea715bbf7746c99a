"""Dataclass configs as command lines: help is written once, on the field.

Each field becomes `--field-name`; its type comes from the annotation (str, int, float, Path, bool
flags, `X | None`), its help from `field(metadata={"help": ...})`. User errors print one line and
exit with status 2: no usage dump, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _base_type(annotation) -> type:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def build_parser(cls: type, prog: str, description: str) -> OneLineParser:
    parser = OneLineParser(prog=prog, description=description,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        if typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            parser.add_argument(flag, type=item, nargs="+", default=default, help=help_text)
        elif kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            required = f.metadata.get("required", False)
            parser.add_argument(flag, type=kind if kind in (int, float, Path) else str, default=default,
                                required=required, help=help_text, metavar=f.metadata.get("metavar"))  # fmt: skip
    return parser


def parse(cls: type[T], argv: list[str] | None, prog: str, description: str) -> T:
    parser = build_parser(cls, prog, description)
    args = parser.parse_args(argv)
    try:
        return cls(**vars(args))
    except ValueError as err:
        parser.exit(2, f"{prog}: error: {err}\n")


def fail(prog: str, message: str, status: int = 1) -> typing.NoReturn:
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(status)
