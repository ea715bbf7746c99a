"""The tree shows the pipeline: synth/ keeps only its entry modules at the top, the rest lives in rooms
(plan, checks, run, dataset, modes, judge, card, ...); nothing reaches back into the generate CLI, and
train never imports synth."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# `python -m synth.X` entry modules, the package files, and the generate command's config.
TOP_LEVEL = {"__init__.py", "__main__.py", "generate.py", "mine.py", "merge.py", "pairs.py", "publish.py"}


# Parsed once, in a child process: CPython 3.11 keeps the AST builder's recursion counter per
# interpreter rather than per thread, and a parse in this process once failed in CI after earlier
# tests had left threads running ("SystemError: AST constructor recursion depth mismatch").
_SCAN = """
import ast, json, sys
out = {}
for path in sys.argv[1:]:
    imports, functions = set(), set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.add(node.module)
            imports.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.FunctionDef):
            functions.add(node.name)
    out[path] = {"imports": sorted(imports), "functions": sorted(functions)}
json.dump(out, sys.stdout)
"""


@functools.cache
def _scan() -> dict[str, dict[str, list[str]]]:
    paths = [str(p) for d in ("synth", "train", "eval", "common") for p in (REPO / d).rglob("*.py")]
    child = subprocess.run([sys.executable, "-c", _SCAN, *paths], capture_output=True, text=True, check=True)
    return json.loads(child.stdout)


def imported(path: Path) -> set[str]:
    return set(_scan()[str(path)]["imports"])


def defines(path: Path) -> set[str]:
    return set(_scan()[str(path)]["functions"])


def test_synth_top_level_holds_only_entry_modules():
    top = {p.name for p in (REPO / "synth").glob("*.py")}
    assert top <= TOP_LEVEL and len(top) <= 10, sorted(top - TOP_LEVEL)
    rooms = {p.parent.name for p in (REPO / "synth").glob("*/__init__.py")}
    assert {"plan", "checks", "run", "dataset", "modes", "judge", "card", "backends"} <= rooms


def test_no_synth_module_imports_the_generate_cli():
    """Modes call the run modules (synth.modes.*), never the CLI: no cycle, and the CLI is the only edge."""
    cli = {REPO / "synth" / "generate.py", REPO / "synth" / "__main__.py"}
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "synth").rglob("*.py")
        if p not in cli and "synth.generate" in imported(p)
    ]
    assert offenders == []


def test_only_the_cli_exits():
    """fail() (SystemExit) is the CLI's: the modes raise GenerateError, which synth.generate maps."""
    for p in (REPO / "synth" / "modes").glob("*.py"):
        names = imported(p)
        assert "common.cli.fail" not in names and "SystemExit" not in p.read_text(), p.name


def test_one_opt_and_one_price():
    defs = [
        str(p.relative_to(REPO))
        for d in ("common", "synth", "train", "eval")
        for p in (REPO / d).rglob("*.py")
        if defines(p) & {"opt", "_opt"}
    ]
    assert defs == ["common/cli.py"]
    callers = [
        str(p.relative_to(REPO)) for p in (REPO / "synth").rglob("*.py") if "price_for(" in p.read_text()
    ]
    assert sorted(callers) == ["synth/backends/build.py", "synth/plan/pricing.py"]


def test_train_never_imports_synth():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "train").rglob("*.py")
        if any(n == "synth" or n.startswith("synth.") for n in imported(p))
    ]
    assert offenders == []


def test_eval_uses_train_only_through_its_embedder_surface():
    used = {n for p in (REPO / "eval").rglob("*.py") for n in imported(p) if n.startswith("train.")}
    assert {n.split(".")[1] for n in used} <= {"embedder"}, sorted(used)


def test_the_row_contract_lives_in_common():
    assert not (REPO / "synth" / "dataset" / "rows.py").exists()
    for d in ("synth", "train"):
        users = [p for p in (REPO / d).rglob("*.py") if "common.rows" in imported(p)]
        assert users, d


def test_one_journaled_call_and_one_ledger():
    """Generator and judge send through synth.run.call; nothing else builds a request or a ledger type."""
    senders = [
        str(p.relative_to(REPO))
        for p in (REPO / "synth").rglob("*.py")
        if "ChatRequest(" in p.read_text() and "backends" not in p.parts and "testing" not in p.parts
    ]
    assert senders == ["synth/run/call.py"]
    for user in ("synth/run/runner.py", "synth/judge/run.py"):
        assert {"synth.run.call.Calls", "synth.run.ledger.Ledger"} <= imported(REPO / user), user
    ledgers = [str(p.relative_to(REPO)) for p in (REPO / "synth").rglob("*.py") if "Ledger:" in p.read_text()]
    assert ledgers == ["synth/run/ledger.py"]


def test_the_formatter_owns_the_layout():
    """ruff format leaves every file as it is; `fmt: skip` is kept for a few constant tables only."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is in the dev extra")
    check = subprocess.run([str(ruff), "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-2000:]
    sources = [p for d in ("synth", "train", "eval", "common") for p in (REPO / d).rglob("*.py")]
    skips = sum(p.read_text().count("# fmt: skip") for p in sources)
    assert skips <= 12, skips
