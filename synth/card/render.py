"""The dataset card (README.md of a dataset dir), rendered from data_cards/ with the run's real numbers.

Numbers come from `stats.json` (counts, rejects, duplicates, generator, cost) and from the parquet
rows (lengths, examples); the two figures are drawn into `plots/` beside the card. What the card
shows is computed in `synth.card.values`; the Jinja template only lays it out. Keys that older
dataset dirs lack (`language_check`, `decontamination`, `brainstorm`) render as "not recorded".

`python -m synth.card DIR [--license X]` re-renders card and plots of an existing dir; the license
already in the card is kept unless --license is given.

Not handled: cards for dirs written by other tools (anything without our stats.json).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from data_cards import TEMPLATE_DIR
from synth.card.plots import (
    LENGTH_PER_TASK_TYPE,
    ROWS_PER_LANGUAGE,
    lengths_by_task_type,
    plot_length_per_task_type,
    plot_rows_per_language,
)
from synth.card.values import card_values
from synth.dataset.dataset import write_text
from synth.run.secrets import redact

PROG = "synth.card"
TEMPLATE = "dataset_card.md.j2"
DEFAULT_LICENSE = "other"
REQUIRED_STATS = ("rows", "per_task_type", "per_language", "per_task_type_language", "generator")
CARD_COLUMNS = (
    "task_type",
    "language",
    "language_pair",
    "instruction",
    "query",
    "positive",
    "negative",
    "model",
)
CARD_ROWS = 20_000  # rows read for lengths and examples; a larger dataset is sampled evenly
log = logging.getLogger(PROG)


class NotADatasetDir(ValueError):
    """The folder lacks what a synth dataset dir has (stats.json, data/*.parquet)."""


def load_stats(out: Path) -> dict:
    """stats.json of a synth dataset dir, or NotADatasetDir naming what is missing."""
    path = out / "stats.json"
    if not out.is_dir():
        raise NotADatasetDir(f"{out}: not a directory")
    if not path.is_file():
        raise NotADatasetDir(f"{out}: not a synth dataset dir (no stats.json)")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NotADatasetDir(f"{path}: not valid JSON ({err})") from None
    missing = [k for k in REQUIRED_STATS if not isinstance(stats, dict) or k not in stats]
    if missing:
        raise NotADatasetDir(f"{path}: not a synth stats file (missing {', '.join(missing)})")
    files = sorted((out / "data").glob("*.parquet"))
    if not files:
        raise NotADatasetDir(f"{out}: not a synth dataset dir (no data/*.parquet)")
    for path in files:  # every file's footer, before a plot or the card is touched
        try:
            pq.read_metadata(path)
        except (pa.ArrowException, OSError) as err:
            raise NotADatasetDir(f"{path}: not a readable parquet file ({err})") from None
    return stats


def read_text_columns(out: Path, most: int = CARD_ROWS, columns: tuple[str, ...] = ()) -> list[dict]:
    """The columns the figures need (and `columns` besides), from every data/*.parquet file: every row of a dataset of up to
    `most` rows; of a larger one, the first row of each task type (the card's examples) and rows
    spread evenly over the rest (lengths), read a batch at a time, so the card of 100M rows needs
    no more memory than one of `most`."""
    files = sorted((out / "data").glob("*.parquet"))
    step = max(1, -(-sum(pq.ParquetFile(p).metadata.num_rows for p in files) // most))
    rows: list[dict] = []
    types: set[str] = set()
    at = 0
    for path in files:
        parquet = pq.ParquetFile(path)
        names = [c for c in (*CARD_COLUMNS, *columns) if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=8192, columns=names):
            picks = []
            for i, task_type in enumerate(batch.column("task_type").to_pylist()):
                if (at + i) % step == 0 or task_type not in types:
                    picks.append(i)
                    types.add(task_type)
            rows.extend(batch.take(picks).to_pylist())
            at += batch.num_rows
    return rows


def model_counts(out: Path) -> list[tuple[str, int]]:
    """Rows per generator model over every row (the models table), most first."""
    counts: Counter = Counter()
    for path in sorted((out / "data").glob("*.parquet")):
        if "model" in pq.read_schema(path).names:
            column = pq.read_table(path, columns=["model"]).column("model")
            counts.update({m["values"] or "unknown": m["counts"] for m in column.value_counts().to_pylist()})
    return counts.most_common()


def existing_license(out: Path) -> str | None:
    """The license in the card's YAML front matter, so a re-render does not reset it."""
    readme = out / "README.md"
    if not readme.is_file():
        return None
    parts = readme.read_text(encoding="utf-8").split("---\n", 2)
    if len(parts) < 3 or parts[0]:
        return None
    try:
        meta = yaml.safe_load(parts[1])
    except yaml.YAMLError:
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def draw_plots(out: Path, stats: dict, rows: list[dict]) -> None:
    plot_rows_per_language(stats["per_language"], out / ROWS_PER_LANGUAGE)
    plot_length_per_task_type(lengths_by_task_type(rows), out / LENGTH_PER_TASK_TYPE)


def render_card(out: Path, stats: dict, license: str = DEFAULT_LICENSE) -> str:
    """The card's text; also (re)draws the figures in OUT/plots/ that it links to.

    Reads the rows from OUT/data/*.parquet, so call it after the rows are written. The text passes
    through `redact`: no API key or token in the environment can reach a published card. A dir of
    weak pairs (`synth.pairs`, stats.json with `pairs`) gets its own card (`synth.card.pairs`).
    """
    if "pairs" in stats:
        from synth.card.pairs import render_pairs_card

        return render_pairs_card(out, stats, license)
    rows = read_text_columns(out)
    draw_plots(out, stats, rows)
    models = model_counts(out)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    text = env.get_template(TEMPLATE).render(**card_values(out, stats, license, rows, models))
    return redact(text)


def write_card(out: Path, license: str | None = None) -> Path:
    """Re-render README.md and plots of a dataset dir from its stats.json and rows (atomic writes)."""
    stats = load_stats(out)
    license = license or existing_license(out) or DEFAULT_LICENSE
    path = out / "README.md"
    write_text(path, render_card(out, stats, license))
    return path
