"""The data card's two figures: rows per language, and text length per task type.

matplotlib is imported inside the functions, with the Agg backend, so importing synth never needs a
display and costs nothing when no card is drawn. Each PNG is written to a temporary name and renamed
into place, like every other file of a dataset dir.

Lengths are words of the query and of the positive (`synth.checks.text.count_words`: characters divided by
the script's average word length for unspaced scripts such as Chinese or Thai).
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from pathlib import Path

from synth.checks.text import count_words

PLOTS_DIR = "plots"
ROWS_PER_LANGUAGE = f"{PLOTS_DIR}/rows_per_language.png"
LENGTH_PER_TASK_TYPE = f"{PLOTS_DIR}/length_per_task_type.png"
SIDES = ("query", "positive")


def lengths_by_task_type(rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{task_type: {"query": [words, ...], "positive": [...]}} in row order, task types sorted."""
    lengths: dict[str, dict[str, list[float]]] = defaultdict(lambda: {side: [] for side in SIDES})
    for row in rows:
        for side in SIDES:
            lengths[row["task_type"]][side].append(count_words(row[side] or "", row["language"]))
    return dict(sorted(lengths.items()))


def length_summary(lengths: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Median, 10th and 90th percentile words per task type and side, for the card's table.

    >>> length_summary({"sts": {"query": [1, 2, 3], "positive": [4.0]}})["sts"]["positive"]
    {'p10': 4.0, 'median': 4.0, 'p90': 4.0}
    """
    return {
        task_type: {side: _percentiles(values) for side, values in sides.items() if values}
        for task_type, sides in lengths.items()
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) == 1:
        return {"p10": float(values[0]), "median": float(values[0]), "p90": float(values[0])}
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    median = statistics.median(values)
    return {
        "p10": round(float(deciles[0]), 1),
        "median": round(float(median), 1),
        "p90": round(float(deciles[-1]), 1),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: never open a window, never need a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    os.replace(tmp, path)


def plot_rows_per_language(per_language: dict[str, int], path: Path) -> Path:
    """Horizontal bars, most rows on top; one bar per language present."""
    plt = _pyplot()
    items = sorted(per_language.items(), key=lambda kv: (kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.22 * len(items) + 1)))
    try:
        ax.barh([code for code, _ in items], [n for _, n in items], color="#4c72b0")
        ax.set_xlabel("rows")
        ax.set_ylabel("language (ISO 639)")
        ax.set_title("Rows per language")
        ax.margins(y=0.01)
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_length_per_task_type(lengths: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """Box plots of words in the query and the positive, side by side for each task type (log scale)."""
    plt = _pyplot()
    task_types = list(lengths) or ["(no rows)"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(task_types) + 2), 4))
    try:
        colors = {"query": "#dd8452", "positive": "#4c72b0"}
        for offset, side in ((-0.18, "query"), (0.18, "positive")):
            data = [[max(v, 1.0) for v in lengths.get(t, {}).get(side, [])] or [1.0] for t in task_types]
            boxes = ax.boxplot(
                data,
                positions=[i + offset for i in range(len(task_types))],
                widths=0.3,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "black"},
            )
            for box in boxes["boxes"]:
                box.set_facecolor(colors[side])
            boxes["boxes"][0].set_label(side)
        ax.set_xticks(range(len(task_types)), task_types, rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel("words (log scale)")
        ax.set_title("Length of query and positive per task type")
        ax.legend(loc="upper left")
        _save(fig, path)
    finally:
        plt.close(fig)
    return path
