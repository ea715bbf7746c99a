"""Several data files in one run: which files, what each is called, one table and one bar plot.

``--data`` takes a list; each item is a file or dir, or a glob (quoted, so the shell leaves it):

    --data sts/ko.tsv sts/ja.tsv          two files
    --data 'miracl/*'                     every BEIR dir under miracl/
    --data tatoeba/                       every .tsv in tatoeba/ (bitext, STS)

A row's language is the data's own ``language`` field where it has one (a bitext header, a
``language`` column of an STS file, ``language`` on queries/corpus rows of a BEIR dir), else the
file or dir name (``ko`` for ``sts/ko.tsv``); two rows with one name get their paths instead.
The table ends with the mean and how many texts the run encoded and how many came from the cache:

    language        pairs        f1
    kor-eng           100    0.1230
    deu-eng           100    0.5170
    mean (2)                 0.3200
    texts: 400 (300 encoded, 100 from the cache)

Not handled: weighting the mean by size (every file counts once, as mteb averages subsets).
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from eval.errors import EvalError
from eval.options import RESULTS_FORMAT, describe_instruction, out_file

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Row:
    label: str  # the language (pair) or the file's name
    size: int  # what the file holds: pairs, or judged queries
    score: float  # the table's metric


def expand_data(
    items: Sequence[str | Path], kind: Literal["file", "beir"], suffixes: Sequence[str] = (".tsv",)
) -> list[Path]:
    """``--data`` items -> data paths, in the order given (a glob's or dir's matches sorted).

    kind "file": a dir stands for its files with ``suffixes``; kind "beir": a dir without
    corpus.jsonl stands for its subdirs that have one (MIRACL's one dir per language).
    """
    out: list[Path] = []
    for item in items:
        text = str(item)
        if any(c in text for c in GLOB_CHARS) and not Path(text).exists():
            matches = sorted(Path(m) for m in glob.glob(str(Path(text).expanduser())))
            if not matches:
                raise EvalError(f"--data {text}: the pattern matches nothing")
        else:
            matches = [Path(text).expanduser()]
        for path in matches:
            out.extend(_inside(path, kind, suffixes))
    if not out:
        raise EvalError("--data: give at least one data file or dir")
    return list(dict.fromkeys(out))  # the same path twice is evaluated once


def _inside(path: Path, kind: str, suffixes: Sequence[str]) -> list[Path]:
    if not path.is_dir():
        return [path]  # a file, or a missing path the loader reports
    if kind == "beir":
        if (path / "corpus.jsonl").is_file():
            return [path]
        subdirs = sorted(p for p in path.iterdir() if (p / "corpus.jsonl").is_file())
        return subdirs or [path]  # no BEIR dir inside: load_beir says what is missing
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise EvalError(f"--data {path}: no {'/'.join(suffixes)} file in this directory")
    return files


def labels(paths: Sequence[Path], languages: Sequence[str | None]) -> list[str]:
    """The table's first column: the language where the data names it, else the file's stem;
    duplicates get the path (relative to the files' common dir) to tell them apart."""
    names = [lang or (p.name if p.is_dir() else p.stem) for p, lang in zip(paths, languages, strict=True)]
    counts = Counter(names)
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    out = []
    for name, path, lang in zip(names, paths, languages, strict=True):
        if counts[name] > 1:
            rel = str(path.resolve().relative_to(root))
            name = f"{lang} ({rel})" if lang else rel
        out.append(name)
    return out


def uniform(values: Sequence[Any]) -> str | None:
    """The one non-empty value all rows share, or None (absent or mixed)."""
    seen = {str(v) for v in values if v not in (None, "")}
    return seen.pop() if len(seen) == 1 and all(v not in (None, "") for v in values) else None


def summary(rows: Sequence[Row], metric: str, stats: Any = None) -> dict[str, Any]:
    """The JSON ``summary``: metric, mean over files, rows, and the run's text counts."""
    out: dict[str, Any] = {
        "metric": metric,
        "mean": float(np.mean([r.score for r in rows])),
        "num_files": len(rows),
        "rows": [{"language": r.label, "size": r.size, metric: r.score} for r in rows],
    }
    if stats is not None:  # an Encoder's EncodeStats; test oracles have none
        out["texts"] = {"total": stats.total, "encoded": stats.encoded, "cached": stats.cached}
    return out


def render(summary_: dict[str, Any], size_name: str) -> str:
    """The printed table (see the module docstring)."""
    metric, rows = summary_["metric"], summary_["rows"]
    width = max([len("language"), len(f"mean ({len(rows)})")] + [len(r["language"]) for r in rows])
    lines = [f"{'language':<{width}}  {size_name:>8}  {metric:>10}"]
    lines += [f"{r['language']:<{width}}  {r['size']:>8}  {r[metric]:>10.4f}" for r in rows]
    lines.append(f"{f'mean ({len(rows)})':<{width}}  {'':>8}  {summary_['mean']:>10.4f}")
    if texts := summary_.get("texts"):
        lines.append(
            f"texts: {texts['total']} ({texts['encoded']} encoded, {texts['cached']} from the cache)"
        )
    return "\n".join(lines)


def plot(rows: Sequence[Row], metric: str, path: Path, title: str) -> None:
    """One bar per row (language), the mean as a dashed line; PNG. Wide enough for 93 labels."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    scores = [r.score for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(rows) + 2), 4))
    ax.bar(range(len(rows)), scores, color="tab:blue")
    ax.axhline(float(np.mean(scores)), color="tab:red", linestyle="--", linewidth=1, label="mean")
    ax.set_xticks(range(len(rows)), [r.label for r in rows], rotation=90 if len(rows) > 8 else 0)
    ax.set_ylim(min(0.0, min(scores) - 0.02), max(1.0, max(scores)) + 0.02)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def results_body(files: list[dict[str, Any]], summary_: dict[str, Any]) -> dict[str, Any]:
    """``files`` (one entry per data file) and ``summary``; a one-file run also keeps that file's keys
    (``data``, ``scores``, ...) at the top level, where single-file results have always had them."""
    body = {"files": files, "summary": summary_}
    return {**files[0], **body} if len(files) == 1 else body


def write_run(
    cfg: Any,
    stats: Any,
    *,
    file_name: str,
    title: str,
    metric: str,
    size_name: str,
    instruction: str | None,
    files: list[dict[str, Any]],
    rows: Sequence[Row],
    head: dict[str, Any] | None = None,
    flat_single: bool = True,
) -> dict[str, Any]:
    """The end every multi-file evaluator shares: the summary, the JSON (``head`` keys after the
    model's), the bar plot beside it, the table and the closing line. ``flat_single``: a one-file run
    also keeps that file's keys at the top level (:func:`results_body`)."""
    summary_ = summary(rows, metric, stats)
    path = out_file(cfg.out, file_name)
    png = path.with_suffix(".png")
    plot(rows, metric, png, f"{title}: {Path(cfg.model).name or cfg.model}")
    body = results_body(files, summary_) if flat_single else {"files": files, "summary": summary_}
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        **(head or {}),
        "instruction": instruction,
        **body,
        "plot": str(png),
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(render(summary_, size_name))
    print(f"instruction={describe_instruction(instruction)}  -> {path}, {png}")
    return result
