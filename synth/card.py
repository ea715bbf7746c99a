"""The dataset card (README.md of a dataset dir), rendered from data_cards/ with the run's real numbers.

Numbers come from `stats.json` (counts, rejects, duplicates, generator, cost) and from the parquet
rows (lengths); the two figures are drawn into `plots/` beside the card. All logic lives here; the
Jinja template only lays out the values `card_values` prepares. Keys that older dataset dirs lack
(`language_check`, `decontamination`, `brainstorm`) render as "not recorded", never as an error.

`python -m synth.card DIR [--license X]` re-renders card and plots of an existing dir; the license
already in the card is kept unless --license is given.

Not handled: cards for dirs written by other tools (anything without our stats.json).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import textwrap
from collections import Counter
from pathlib import Path

import jinja2
import pyarrow.parquet as pq
import yaml

from data_cards import TEMPLATE_DIR
from synth.cli import OneLineParser
from synth.dataset import write_text
from synth.languages import LANGUAGES
from synth.plots import (
    LENGTH_PER_TASK_TYPE,
    ROWS_PER_LANGUAGE,
    length_summary,
    lengths_by_task_type,
    plot_length_per_task_type,  # fmt: skip
    plot_rows_per_language,
)
from synth.secrets import redact

PROG = "synth.card"
TEMPLATE = "dataset_card.md.j2"
DEFAULT_LICENSE = "other"
REQUIRED_STATS = ("rows", "per_task_type", "per_language", "per_task_type_language", "generator")
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]  # fmt: skip
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
EXAMPLE_CHARS = 300  # an example's field is cut here: the card shows the shape of the data, not all of it
log = logging.getLogger(PROG)


class NotADatasetDir(ValueError):
    """The folder lacks what a synth dataset dir has (stats.json, data/*.parquet)."""


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


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
    if not sorted((out / "data").glob("*.parquet")):
        raise NotADatasetDir(f"{out}: not a synth dataset dir (no data/*.parquet)")
    return stats


def read_text_columns(out: Path) -> list[dict]:
    """The columns the figures and the models table need, from every data/*.parquet file."""
    rows: list[dict] = []
    for path in sorted((out / "data").glob("*.parquet")):
        names = pq.read_schema(path).names
        columns = [c for c in CARD_COLUMNS if c in names]
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows


def _fenced(text: str | None) -> str | None:
    """LLM text as a fenced block that no backtick run inside it can close early, cut to EXAMPLE_CHARS.

    >>> _fenced("a ``` b")
    '````\\na ``` b\\n````'
    """
    if text is None:
        return None
    cut = text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS].rstrip() + " [...]"
    cut = "\n".join(textwrap.fill(line, 100) or line for line in cut.splitlines())  # code blocks do not wrap
    longest = max((len(run) for run in re.findall(r"`+", cut)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{cut}\n{fence}"


def example_rows(rows: list[dict]) -> list[dict]:
    """The first row of each task type (row order is deterministic for a seed), fields fenced and cut."""
    first: dict[str, dict] = {}
    for row in rows:
        first.setdefault(row["task_type"], row)
    return [
        {
            "task_type": task_type,
            "language": row.get("language_pair") or row["language"],
            **{key: _fenced(row.get(key)) for key in ("instruction", "query", "positive", "negative")},
        }
        for task_type, row in sorted(first.items())
    ]


def card_languages(stats: dict) -> list[str]:
    """Every language present in the rows, bitext targets included, as ISO codes."""
    languages = set(stats["per_language"])
    for table in stats["per_task_type_language"].values():
        languages.update(table)
    for pair in stats.get("per_language_pair", {}):
        languages.update(pair.split("-"))
    return sorted(languages)


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


def _shares(weights: dict[str, float]) -> list[tuple[str, float]]:
    """Weights as percentages, largest first: {'en': 3, 'de': 1} -> [('en', 75.0), ('de', 25.0)]."""
    total = sum(weights.values()) or 1.0
    return sorted(
        ((k, round(100 * v / total, 1)) for k, v in weights.items()), key=lambda kv: (-kv[1], kv[0])
    )


def _type_language_table(stats: dict) -> dict:
    """Languages (rows, most rows first) x task types (columns), with totals both ways."""
    table = stats["per_task_type_language"]
    task_types = sorted(table)
    totals = Counter()
    for counts in table.values():
        totals.update(counts)
    languages = sorted(totals, key=lambda code: (-totals[code], code))
    return {
        "task_types": task_types,
        "rows": [
            (code, LANGUAGES.get(code, code), [table[t].get(code, 0) for t in task_types], totals[code])
            for code in languages
        ],  # fmt: skip
        "column_totals": [sum(table[t].values()) for t in task_types],
        "total": sum(totals.values()),
    }


def _language_check(check: dict | None) -> dict:
    """{"state": "absent" | "off" | "on", ...}: older runs lack the key, --no-language-check turns it off."""
    if not check:
        return {"state": "absent"}
    if check.get("enabled") is False:
        return {"state": "off"}
    wrong = check.get("wrong_language", {})
    return {
        "state": "on",
        "detector": check.get("detector", "unknown"),
        "unjudged": [(code, LANGUAGES.get(code, code)) for code in check.get("unjudged_languages", [])],
        "wrong_language": [
            (code, LANGUAGES.get(code, code), n)
            for code, n in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def _decontamination(decontamination: dict | None) -> dict | None:
    """None when no evaluation set was given (the key is absent, or lists no sets)."""
    if not decontamination or not decontamination.get("sets"):
        return None
    return {
        "sets": decontamination["sets"],
        "ngram_words": decontamination.get("ngram_words", 13),
        "char_ngram": decontamination.get("char_ngram"),
        "texts_indexed": decontamination.get("texts_indexed"),
        "dropped": decontamination.get("dropped", 0),
    }


def card_values(out: Path, stats: dict, license: str, rows: list[dict]) -> dict:
    """Everything the template shows, with absent keys of older stats files filled in."""
    generator = stats["generator"]
    rows_total = stats["rows"]
    brainstorm = stats.get("brainstorm", {})
    # No rows yet (a run stopped early): list the languages asked for rather than none.
    languages = card_languages(stats) or sorted(generator.get("languages") or {})
    multilinguality = ["monolingual"] if len(languages) <= 1 else ["multilingual"]
    if stats.get("per_language_pair"):
        multilinguality.append("translation")
    return {
        "name": out.resolve().name,
        "license": license,
        "languages": languages,
        "language_names": {code: LANGUAGES.get(code, code) for code in languages},
        "multilinguality": multilinguality,
        "size_category": size_category(rows_total),
        "status": stats.get("status", "unknown"),
        "rows": rows_total,
        "target": stats.get("target", rows_total),
        "per_task_type": stats["per_task_type"],
        "per_language": [
            (code, LANGUAGES.get(code, code), n, round(100 * n / max(rows_total, 1), 1))
            for code, n in sorted(stats["per_language"].items(), key=lambda kv: (-kv[1], kv[0]))
        ],  # fmt: skip
        "per_language_pair": stats.get("per_language_pair", {}),
        "type_language": _type_language_table(stats),
        "lengths": length_summary(lengths_by_task_type(rows)),
        "duplicates": stats.get("duplicates", {"exact": 0, "near": 0}),
        "brainstorm": brainstorm,
        "brainstorm_duplicates": sum(sum(b.get("duplicates", {}).values()) for b in brainstorm.values()),
        "rejects": stats.get("rejects", {}),
        "rejected_examples": stats.get("rejected_examples", 0),
        "language_check": _language_check(stats.get("language_check")),
        "decontamination": _decontamination(stats.get("decontamination")),
        "generator": {
            "backend": generator.get("backend", "unknown"),
            "model": generator.get("model", "unknown"),
            "self_hosted_url": bool(generator.get("base_url")),
            "temperature": generator.get("temperature"),
            "top_p": generator.get("top_p"),
            "seed": generator.get("seed"),
            "examples_per_task": generator.get("examples_per_task"),
            "max_reasks": generator.get("max_reasks"),
        },
        "examples": example_rows(rows),
        "models": Counter(r.get("model") or "unknown" for r in rows).most_common(),
        "language_weights": _shares(generator.get("languages") or {}),
        "task_mix": _shares(generator.get("task_mix") or {}),
        "templates": stats.get("templates", {}),
        "calls": stats.get("calls", {}),
        "tokens": stats.get("tokens", {"prompt": 0, "completion": 0}),
        "cost_usd": stats.get("cost_usd", 0.0),
        "price": stats.get("price_per_million", {"input": None, "output": None, "known": False}),
        "elapsed_s": stats.get("elapsed_s"),
        "plots": {"rows_per_language": ROWS_PER_LANGUAGE, "length_per_task_type": LENGTH_PER_TASK_TYPE},
    }


def draw_plots(out: Path, stats: dict, rows: list[dict]) -> None:
    plot_rows_per_language(stats["per_language"], out / ROWS_PER_LANGUAGE)
    plot_length_per_task_type(lengths_by_task_type(rows), out / LENGTH_PER_TASK_TYPE)


def render_card(out: Path, stats: dict, license: str = DEFAULT_LICENSE) -> str:
    """The card's text; also (re)draws the figures in OUT/plots/ that it links to.

    Reads the rows from OUT/data/*.parquet, so call it after the rows are written. The text passes
    through `redact`: no API key or token in the environment can reach a published card.
    """
    rows = read_text_columns(out)
    draw_plots(out, stats, rows)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )  # fmt: skip
    text = env.get_template(TEMPLATE).render(**card_values(out, stats, license, rows))
    return redact(text)


def write_card(out: Path, license: str | None = None) -> Path:
    """Re-render README.md and plots of a dataset dir from its stats.json and rows (atomic writes)."""
    stats = load_stats(out)
    license = license or existing_license(out) or DEFAULT_LICENSE
    path = out / "README.md"
    write_text(path, render_card(out, stats, license))
    return path


def cli(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog=PROG, description="Re-render the data card (README.md) and plots of a dataset dir."
    )
    parser.add_argument("dir", type=Path, help="dataset dir written by synth.generate")
    parser.add_argument("--license", default=None,
                        help="license id for the card's metadata (default: the card's current one, else 'other')")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        path = write_card(args.dir, args.license)
    except NotADatasetDir as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
