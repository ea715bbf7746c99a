"""The dataset card (README.md of a dataset dir), rendered from data_cards/ with real numbers."""

from __future__ import annotations

from pathlib import Path

import jinja2

from data_cards import TEMPLATE_DIR
from synth.languages import LANGUAGES

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M")]  # fmt: skip


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>10M")


def render_card(out: Path, stats: dict, license: str = "other") -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined
    )
    languages = set(stats["per_language"])
    for table in stats["per_task_type_language"].values():
        languages.update(table)
    for pair in stats["per_language_pair"]:
        languages.update(pair.split("-"))
    return env.get_template("dataset_card.md.j2").render(
        name=out.resolve().name,
        stats=stats,
        license=license,
        languages=sorted(languages) or ["en"],
        language_names=LANGUAGES,
        size_category=size_category(stats["rows"]),
    )
