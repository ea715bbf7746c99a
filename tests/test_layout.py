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
def test_no_synth_module_imports_the_generate_cli():
    """Modes call the run modules (synth.modes.*), never the CLI: no cycle, and the CLI is the only edge."""
    cli = {REPO / "synth" / "generate.py", REPO / "synth" / "__main__.py"}
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "synth").rglob("*.py")
                 if p not in cli and "synth.generate" in imported(p)]  # fmt: skip
    assert offenders == []


def test_only_the_cli_exits():
    """fail() (SystemExit) is the CLI's: the modes raise GenerateError, which synth.generate maps."""
    for p in (REPO / "synth" / "modes").glob("*.py"):
        names = imported(p)
        assert "common.cli.fail" not in names and "SystemExit" not in p.read_text(), p.name


def test_one_opt_and_one_price():
    defs = [str(p.relative_to(REPO)) for d in ("common", "synth", "train", "eval") for p in (REPO / d).rglob("*.py")
            if any(isinstance(n, ast.FunctionDef) and n.name in ("opt", "_opt")
                   for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]  # fmt: skip
    assert defs == ["common/cli.py"]
    callers = [str(p.relative_to(REPO)) for p in (REPO / "synth").rglob("*.py") if "price_for(" in p.read_text()]
    assert sorted(callers) == ["synth/backends/build.py", "synth/plan/pricing.py"]


def test_train_never_imports_synth():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "train").rglob("*.py")
                 if any(n == "synth" or n.startswith("synth.") for n in imported(p))]
    assert offenders == []


def test_eval_uses_train_only_through_its_embedder_surface():
    used = {n for p in (REPO / "eval").rglob("*.py") for n in imported(p) if n.startswith("train.")}
    assert {n.split(".")[1] for n in used} <= {"embedder"}, sorted(used)


def test_the_row_contract_lives_in_common():
    assert not (REPO / "synth" / "dataset" / "rows.py").exists()
    for d in ("synth", "train"):
        users = [p for p in (REPO / d).rglob("*.py") if "common.rows" in imported(p)]
        assert users, d
