"""What the data card shows, computed from stats.json and the rows: the card's whole logic, no layout.

`card_values(out, stats, license, rows)` returns the dict that `data_cards/dataset_card.md.j2`
lays out. Keys that older stats files lack (`language_check`, `decontamination`, `brainstorm`)
come back as "absent" states, never as errors.

>>> _shares({"en": 3, "de": 1})
[('en', 75.0), ('de', 25.0)]
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

from synth.card.plots import LENGTH_PER_TASK_TYPE, ROWS_PER_LANGUAGE, length_summary, lengths_by_task_type
from synth.plan.languages import LANGUAGES
from synth.plan.tasks import TASK_TYPES

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]  # fmt: skip
EXAMPLE_CHARS = 300  # an example's field is cut here: the card shows the shape of the data, not all of it


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


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
        ],
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


def _rejects(rejects: dict) -> list[tuple[str, str, int]]:
    """(step, reason, answers) rows: stats.json v2 keeps rejects per step, v1 had one flat table.

    >>> _rejects({"brainstorm": {"invalid_json": 2}, "examples": {"too_short": 5}})
    [('brainstorm', 'invalid_json', 2), ('examples', 'too_short', 5)]
    >>> _rejects({"too_short": 5})
    [('all', 'too_short', 5)]
    """
    if rejects and all(isinstance(v, dict) for v in rejects.values()):
        return [(step, reason, n) for step, counts in rejects.items() for reason, n in counts.items()]
    return [("all", reason, n) for reason, n in rejects.items()]


def _recipe(stats: dict) -> dict[str, list[str]]:
    """The run's task types by where their instruction came from: brainstormed in step 1, fixed,
    written by a grounded answer over corpus passages. Types no longer declared count as brainstormed
    (the paper's recipe, which older runs followed)."""
    names = list((stats["generator"].get("task_mix") or {}) or stats.get("per_task_type", {}))
    out: dict[str, list[str]] = {"brainstormed": [], "fixed": [], "grounded": []}
    for name in names:
        spec = TASK_TYPES.get(name)
        kind = (
            "grounded"
            if spec and spec.passages
            else "fixed"
            if spec and spec.instruction == "fixed"
            else "brainstormed"
        )
        out[kind].append(name)
    return out


def _run_templates(stats: dict) -> dict[str, str]:
    """The hashes of the templates the run's task types use (stats.json records every template)."""
    templates = stats.get("templates", {})
    used = set()
    for name in _recipe(stats)["brainstormed"] + _recipe(stats)["fixed"] + _recipe(stats)["grounded"]:
        if spec := TASK_TYPES.get(name):
            used |= {spec.generate_template, spec.brainstorm_template}
    return {t: h for t, h in templates.items() if t in used} or templates


def _dropped_negatives(stats: dict) -> list[tuple[str, int]]:
    """(reason, rows) of kept rows whose written negative failed its checks, over every type."""
    counts: Counter = Counter()
    for by_reason in (stats.get("negatives_dropped") or {}).values():
        counts.update(by_reason)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def card_values(
    out: Path, stats: dict, license: str, rows: list[dict], models: list[tuple[str, int]] | None = None
) -> dict:
    """Everything the template shows, with absent keys of older stats files filled in. `rows` may
    be a sample of a large dataset (`synth.card.render.read_text_columns`); `models` then counts
    every row."""
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
        ],
        "per_language_pair": stats.get("per_language_pair", {}),
        "type_language": _type_language_table(stats),
        "lengths": length_summary(lengths_by_task_type(rows)),
        "duplicates": stats.get("duplicates", {"exact": 0, "near": 0}),
        "brainstorm": brainstorm,
        "brainstorm_duplicates": sum(sum(b.get("duplicates", {}).values()) for b in brainstorm.values()),
        "rejects": _rejects(stats.get("rejects", {})),
        "accounting": stats.get("accounting"),
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
        "models": models
        if models is not None
        else Counter(r.get("model") or "unknown" for r in rows).most_common(),
        "language_weights": _shares(generator.get("languages") or {}),
        "task_mix": _shares(generator.get("task_mix") or {}),
        "templates": _run_templates(stats),
        "calls": stats.get("calls", {}),
        "tokens": stats.get("tokens", {"prompt": 0, "completion": 0}),
        "cost_usd": stats.get("cost_usd", 0.0),
        "price": stats.get("price_per_million", {"input": None, "output": None, "known": False}),
        "elapsed_s": stats.get("elapsed_total_s", stats.get("elapsed_s")),
        "runs": stats.get("runs", 1),
        "recipe": _recipe(stats),
        "corpus": stats.get("corpus"),
        "negatives_dropped": _dropped_negatives(stats),
        "plots": {"rows_per_language": ROWS_PER_LANGUAGE, "length_per_task_type": LENGTH_PER_TASK_TYPE},
    }
