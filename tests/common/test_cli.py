"""The dataclass command line every entry point uses: types, one-line errors, and help that lists
every option once, with its default shown once and only where it means something."""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Literal

import pytest

from common.cli import build_parser, parse


@dataclass
class Demo:
    """A demo command."""

    src: Path = field(metadata={"help": "input dir", "positional": True})
    name: str = field(metadata={"help": "a required option"})
    batch: int = field(default=32, metadata={"help": "texts per batch"})
    rate: float | None = field(default=None, metadata={"help": "rows per second; default: the model's"})
    mode: Literal["fast", "exact"] = field(default="fast", metadata={"help": "search mode"})
    files: list[Path] | None = field(default=None, metadata={"help": "extra files"})
    tags: list[str] = field(default_factory=list, metadata={"help": "labels"})
    share: float = field(default=0.5, metadata={"help": "50% is half"})
    progress: bool = field(default=True, metadata={"help": "show progress"})
    dry_run: bool = field(default=False, metadata={"help": "plan only"})

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"--batch must be at least 1, got {self.batch}")


def entries(help_text: str) -> dict[str, str]:
    """--help's option entries by first option string (`--flag` or a positional's name), each with
    its wrapped lines joined."""
    out: dict[str, str] = {}
    key = None
    for line in help_text.splitlines():
        if re.match(r"^\S.*:$", line):  # a section: "options:", "positional arguments:"
            key = ""
        elif key is not None and re.match(r"^  \S", line):
            key = line.split()[0].rstrip(",")
            out[key] = line
        elif key:
            out[key] += " " + line.strip()
    return out


def test_types_and_dataclass_defaults():
    assert parse(Demo, ["d", "--name", "n"], "demo") == Demo(Path("d"), "n")
    argv = [
        "d",
        "--name",
        "n",
        "--batch",
        "8",
        "--rate",
        "0.5",
        "--mode",
        "exact",
        "--files",
        "a",
        "b",
        "--files",
        "c",
        "--tags",
        "x",
        "--no-progress",
        "--dry-run",
    ]
    cfg = parse(Demo, argv, "demo")
    assert cfg == Demo(
        Path("d"), "n", 8, 0.5, "exact", [Path("a"), Path("b"), Path("c")], ["x"], 0.5, False, True
    )
    # The parser holds no defaults of its own: an option not given leaves the dataclass's in place,
    # and a default_factory list is a fresh one, never shared through argparse.
    assert vars(build_parser(Demo).parse_args(["d", "--name", "n"])) == {"src": Path("d"), "name": "n"}
    assert parse(Demo, ["d", "--name", "n"]).tags is not parse(Demo, ["d", "--name", "n"]).tags


@pytest.mark.parametrize(
    "argv, message",
    [
        (["d"], "the following arguments are required: --name (see --help)"),
        (["d", "--name", "n", "--batch", "x"], "argument --batch: invalid int value: 'x' (see --help)"),
        (["d", "--name", "n", "--mode", "slow"], "argument --mode: invalid choice: 'slow'"),
        (["d", "--name", "n", "--nope"], "unrecognized arguments: --nope (see --help)"),
        (["d", "--name", "n", "--batch", "0"], "--batch must be at least 1, got 0"),  # from __post_init__
    ],
)
def test_bad_flags_are_one_line_with_status_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        parse(Demo, argv, "demo")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("demo: error: ") and message in err
    assert err.count("\n") == 1 and "usage" not in err


def test_help_shows_a_default_once_and_only_where_it_means_something():
    text = build_parser(Demo).format_help()
    assert text.startswith("usage: tests.common.test_cli ") and "A demo command." in text  # module, docstring
    got = entries(text)
    assert got["--batch"].endswith("texts per batch (default: 32)")
    assert got["--mode"].endswith("search mode (default: fast)") and "{fast,exact}" in got["--mode"]
    assert got["--progress"].endswith("show progress (default: True)")
    assert got["--share"].endswith("50% is half (default: 0.5)")  # a '%' in help is text, not a format
    assert got["--rate"].endswith("rows per second; default: the model's")  # said in words: no second one
    for flag in ("src", "--name", "--files", "--tags", "--dry-run"):  # required, None, empty, False
        assert "default" not in got[flag]


def test_a_field_the_parser_cannot_serve_fails_when_it_is_built():
    @dataclass
    class NoHelp:
        x: int = 1

    @dataclass
    class Typo:
        x: int = field(default=1, metadata={"help": "x", "requird": True})

    @dataclass
    class Dict:
        x: dict = field(default_factory=dict, metadata={"help": "x"})

    with pytest.raises(TypeError, match="NoHelp.x: needs metadata help text"):
        build_parser(NoHelp)
    with pytest.raises(TypeError, match=r"Typo.x: unknown metadata \['requird'\]"):
        build_parser(Typo)
    with pytest.raises(TypeError, match="Dict.x: .* cannot be a command-line value"):
        build_parser(Dict)


def _entry_points():
    """name -> (the function its `python -m` runs, with argv; its config class)."""
    from eval import mteb, passkey, retrieval, sts
    from eval.cli import run_main
    from synth import generate
    from synth.card import publish
    from synth.card.__main__ import CardConfig
    from synth.card.__main__ import cli as card_cli
    from synth.merge import MergeConfig
    from synth.merge import cli as merge_cli
    from synth.mining.cli import MineConfig
    from synth.mining.cli import cli as mine_cli
    from synth.run.config import GenerateConfig
    from train.config import TrainConfig
    from train.lora import cli as train_cli

    points = {
        "synth.generate": (generate.cli, GenerateConfig),
        "synth.mine": (mine_cli, MineConfig),
        "synth.card": (card_cli, CardConfig),
        "synth.publish": (publish.cli, publish.PublishConfig),
        "synth.merge": (merge_cli, MergeConfig),
        "python -m train.lora": (train_cli, TrainConfig),
    }
    for module in (retrieval, sts, mteb, passkey):
        run = (lambda m: lambda argv: run_main(m.Config, m.main, argv))(module)
        points[module.__name__] = (run, module.Config)
    return points


ENTRY_POINTS = ["synth.generate", "synth.mine", "synth.card", "synth.publish", "synth.merge", "python -m train.lora",
                "eval.retrieval", "eval.sts", "eval.mteb", "eval.passkey"]  # fmt: skip


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_help_lists_every_option_once_with_its_help(name, capsys):
    run, config = _entry_points()[name]
    with pytest.raises(SystemExit) as exc:
        run(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: {name} ")
    got = entries(text)
    for f in fields(config):
        flag = f.name if f.metadata.get("positional") else "--" + f.name.replace("_", "-")
        entry = got[flag]
        help_text = f.metadata["help"]
        assert "".join(help_text.split()) in "".join(entry.split()), flag  # argparse re-wraps lines
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        shows = default not in (MISSING, None, False, []) and not f.metadata.get("required")
        if shows and "default" not in help_text.lower():  # a default worth showing, not said in words
            assert "(default: " in entry, flag
    for flag, entry in got.items():
        assert "(default: None)" not in entry, flag
        assert len(re.findall(r"\bdefault\b", entry, re.IGNORECASE)) <= 1, entry
    # The example: the help says its default in words, and no second one follows.
    if name == "synth.generate":
        assert got["--max-calls"].endswith("(default 3*num_examples+100)")
