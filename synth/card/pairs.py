"""The data card of a `synth.pairs` dir: weak pairs from document structure, with the run's real numbers.

Shares the generator card's pieces (`synth.card.values`: languages, sizes, lengths, examples; the two
plots) and lays them out in `data_cards/pairs_card.md.j2`, which says which rule made how many rows and
what each filter dropped. `synth.card.render.render_card` comes here for any stats.json with `pairs`.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from data_cards import TEMPLATE_DIR
from synth.card.plots import LENGTH_PER_TASK_TYPE, ROWS_PER_LANGUAGE, length_summary, lengths_by_task_type
from synth.card.values import _decontamination, card_languages, example_rows, size_category
from synth.plan.languages import LANGUAGES
from synth.run.secrets import redact

TEMPLATE = "pairs_card.md.j2"


def pairs_card_values(
    out: Path, stats: dict, license: str, rows: list[dict], name: str | None = None
) -> dict:
    p = stats["pairs"]
    by_rule = {}
    for r in rows:
        by_rule.setdefault(r.get("source") or "", r)
    examples = {
        rule: example_rows([by_rule[f"pairs:{rule}"]])[0] for rule in p["rules"] if f"pairs:{rule}" in by_rule
    }
    languages = card_languages(stats)
    return {
        "name": name or out.resolve().name,
        "license": license,
        "languages": languages,
        "language_names": {code: LANGUAGES.get(code, code) for code in languages},
        "size_category": size_category(stats["rows"]),
        "rows": stats["rows"],
        "p": p,
        "table": [
            (
                rule,
                p["instructions"][rule],
                p["found"].get(rule, 0),
                p["kept"].get(rule, 0),
                {reason: n.get(rule, 0) for reason, n in p["dropped"].items()},
            )
            for rule in p["rules"]
        ],
        "reasons": list(p["dropped"]),
        "language_check": stats["language_check"],
        "decontamination": _decontamination(stats.get("decontamination")),
        "lengths": length_summary(lengths_by_task_type(rows)),
        "examples": examples,
        "plots": {"rows_per_language": ROWS_PER_LANGUAGE, "length_per_task_type": LENGTH_PER_TASK_TYPE},
    }


def render_pairs_card(out: Path, stats: dict, license: str, name: str | None = None) -> str:
    """The card's text for OUT (reads OUT's rows, so call it after they are written; draws the plots).
    `name`: the dataset's name when OUT is the temporary dir it is built in."""
    from synth.card.render import draw_plots, read_text_columns  # render dispatches here: import late

    rows = read_text_columns(out, columns=("source",))
    draw_plots(out, stats, rows)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return redact(env.get_template(TEMPLATE).render(**pairs_card_values(out, stats, license, rows, name)))
