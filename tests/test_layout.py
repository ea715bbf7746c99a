"""The tree shows the pipeline: synth/ keeps only its entry modules at the top, the rest lives in rooms
(plan, checks, run, dataset, modes, judge, card, ...); nothing reaches back into the generate CLI, and
train never imports synth."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `python -m synth.X` entry modules, the package files, and the generate command's config.
TOP_LEVEL = {"__init__.py", "__main__.py", "generate.py", "mine.py", "merge.py", "pairs.py", "publish.py"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_synth_top_level_holds_only_entry_modules():
    top = {p.name for p in (REPO / "synth").glob("*.py")}
    assert top <= TOP_LEVEL and len(top) <= 10, sorted(top - TOP_LEVEL)
    rooms = {p.parent.name for p in (REPO / "synth").glob("*/__init__.py")}
    assert {"plan", "checks", "run", "dataset", "modes", "judge", "card", "backends"} <= rooms
