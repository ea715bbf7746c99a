"""Dataclass configs as command lines, for every entry point: help is written once, on the field.

Each field becomes an option `--field-name` (or, with `metadata={"positional": True}`, a positional
argument); its type comes from the annotation, its help from `metadata={"help": ...}`.

    @dataclass
    class Config:
        data: Path = field(metadata={"help": "dataset dir", "positional": True})
        batch_size: int = field(default=32, metadata={"help": "texts per forward pass"})
        mode: Literal["fast", "exact"] = field(default="fast", metadata={"help": "search mode"})

    parse(Config, ["d", "--batch-size", "8"], "demo") -> Config(data=Path("d"), batch_size=8, mode="fast")

Types: str, int, float, Path, bool (`--x` / `--no-x`), `Literal[...]` (choices), `list[X]` (`--x a b`,
and repeating the flag adds to the list), each also as `X | None`. A field without a default, or with
`metadata={"required": True}`, is required. Other metadata: `metavar`; any other key raises, as does
a field without help.

The parser holds no defaults: an option not given is left out of the namespace, so the dataclass
default applies (`cls(**vars(namespace))`). Help shows a default once, and only where it tells
something: not for None, False or an empty list, and not when the help already says its default in words.

User errors are one line, `PROG: error: ...`, exit status 2, no usage dump and no traceback.
Not handled: nested dataclasses, config files.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
METADATA_KEYS = {"help", "required", "positional", "metavar"}
# A help text that says its default in words ("default: the model dir's", "(default 64 for openai)")
# gets no second, literal one.
SAYS_DEFAULT = re.compile(r"\bdefault\b", re.IGNORECASE)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a flag error as one line (the usage is what --help is for)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def opt(default: Any, help: str, **extra: Any) -> Any:
    """A config field with its help text (and parser extras such as required=True) in its metadata."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def fail(prog: str, message: str, status: int = 1) -> typing.NoReturn:
    """One error line on stderr, then exit: status 1 for a failure, 2 for bad input."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(status)


def command_name(cls: type) -> str:
    """The module a config class belongs to, as `python -m` runs it ('eval.sts', also as __main__)."""
    spec = getattr(sys.modules.get(cls.__module__), "__spec__", None)
    return spec.name if spec is not None else cls.__module__


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _without_none(hint: Any) -> Any:
    """`X | None` -> X; any other annotation as it is."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{hint}: only `X | None` unions can be command-line options")
        return args[0]
    return hint


def _scalar(hint: Any, where: str) -> dict[str, Any]:
    """argparse's type (and choices) for one value."""
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        return {"type": type(choices[0]), "choices": choices}
    if hint in (str, int, float, Path):
        return {"type": hint}
    raise TypeError(f"{where}: {hint} cannot be a command-line value (str, int, float, Path, Literal)")


def _help(text: str, default: Any) -> str:
    empty = default is dataclasses.MISSING or default is None or default is False or default in ([], ())
    if empty or SAYS_DEFAULT.search(text):
        shown = text
    else:
        value = " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        shown = f"{text} (default: {value or repr(value)})"
    return shown.replace("%", "%%")  # argparse %-formats help strings


def _add(parser: argparse.ArgumentParser, f: dataclasses.Field, hint: Any, where: str) -> None:
    meta = dict(f.metadata)
    unknown = set(meta) - METADATA_KEYS
    if unknown:
        raise TypeError(f"{where}: unknown metadata {sorted(unknown)}; known: {sorted(METADATA_KEYS)}")
    if not meta.get("help"):
        raise TypeError(f"{where}: needs metadata help text")
    default = _default(f)
    kind = _without_none(hint)
    kw: dict[str, Any] = {"help": _help(meta["help"], default)}
    if meta.get("metavar"):
        kw["metavar"] = meta["metavar"]
    if kind is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        kw.update(_scalar(item, where), action="extend", nargs="+")
    else:
        kw.update(_scalar(kind, where))
    if meta.get("positional"):
        if default is not dataclasses.MISSING or kind is bool:
            raise TypeError(f"{where}: a positional argument takes a value and has no default")
        parser.add_argument(f.name, **kw)
        return
    kw["required"] = default is dataclasses.MISSING or bool(meta.get("required"))
    parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kw)


def build_parser(cls: type, prog: str | None = None, description: str | None = None) -> OneLineParser:
    """One argument per init field of the dataclass `cls`; prog defaults to its module, description
    to the first line of its docstring."""
    if description is None:
        description = (cls.__doc__ or "").strip().split("\n")[0]
    parser = OneLineParser(
        prog=prog or command_name(cls), description=description, argument_default=argparse.SUPPRESS
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            _add(parser, f, hints[f.name], f"{cls.__name__}.{f.name}")
    return parser


def parse(
    cls: type[T], argv: Sequence[str] | None = None, prog: str | None = None, description: str | None = None
) -> T:
    """Flags -> `cls`. A ValueError from its `__post_init__` (a bad value or combination) is a flag
    error too: one line, exit status 2. Other exceptions are the caller's to report."""
    parser = build_parser(cls, prog, description)
    namespace = parser.parse_args(argv)
    try:
        return cls(**vars(namespace))
    except ValueError as err:
        fail(parser.prog, str(err), 2)
