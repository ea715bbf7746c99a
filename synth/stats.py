"""stats.json: what a run really made, computed from the runner's folded state."""

from __future__ import annotations

from collections import Counter, defaultdict

from synth.decontam import CHAR_NGRAM, NGRAM_WORDS
from synth.langcheck import detector_version, unjudged_languages

STATS_VERSION = 1


def build_stats(
    runner,
    *,
    language_check: bool = True,
    status: str,
    generator: dict,
    templates: dict[str, str],
    elapsed_s: float,
) -> dict:
    rows = runner.rows
    per_type = Counter(r["task_type"] for r in rows)
    per_language = Counter(r["language"] for r in rows)
    per_type_language: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_type_language[r["task_type"]][r["language"]] += 1
    brainstorm_rejects = [rej for pool in runner.pools.values() for rej in pool.rejects]
    reject_reasons = Counter(runner.reject_reasons)
    reject_reasons.update(r["reason"] for r in brainstorm_rejects)
    records = runner.journal.records.values()
    return {
        "format_version": STATS_VERSION,
        "status": status,
        "rows": len(rows),
        "target": runner.limits.target,
        "per_task_type": dict(sorted(per_type.items())),
        "per_language": dict(per_language.most_common()),
        "per_language_pair": dict(
            Counter(r["language_pair"] for r in rows if r["language_pair"]).most_common()
        ),
        "per_task_type_language": {t: dict(c.most_common()) for t, c in sorted(per_type_language.items())},
        "duplicates": {"exact": runner.duplicates["exact"], "near": runner.duplicates["near"]},
        "rejects": dict(reject_reasons.most_common()),
        "rejected_examples": runner.rejected_examples,
        "examples_folded": runner.cursor,
        "brainstorm": {
            t: {
                "calls": p.calls_folded,
                "tasks": len(p.tasks),
                "duplicates": {"exact": p.duplicates["exact"], "near": p.duplicates["near"]},
            }  # fmt: skip
            for t, p in runner.pools.items()
            if p.calls_folded
        },
        "calls": {
            "journaled": len(runner.journal.records),
            "failed": sum(1 for r in records if "error" in r),
            "made_this_run": runner.calls_made,
            "answered_from_journal_this_run": runner.calls_cached,
            "retries_this_run": dict(runner.backend.counters.retries),
        },
        "tokens": {"prompt": runner.spent_prompt, "completion": runner.spent_completion},
        "cost_usd": round(runner.cost, 6),
        "price_per_million": {
            "input": runner.price.input_per_million,
            "output": runner.price.output_per_million,
            "known": runner.price.known,
        },  # fmt: skip
        "generator": generator,
        "templates": templates,
        "elapsed_s": round(elapsed_s, 2),
        "language_check": _language_check(runner, language_check),
        "decontamination": _decontamination(runner),
    }


def _language_check(runner, enabled: bool) -> dict:
    if not enabled:
        return {"enabled": False}
    wrong = Counter(r["language"] for r in runner.rejects if r["reason"] == "wrong_language")
    return {
        "enabled": True,
        "detector": detector_version(),
        "unjudged_languages": unjudged_languages(),
        "wrong_language": dict(wrong.most_common()),
    }


def _decontamination(runner) -> dict:
    d = runner.decontaminator
    if d is None:
        return {"sets": [], "dropped": 0}
    return {"sets": [str(p) for p in d.paths], "ngram_words": NGRAM_WORDS, "char_ngram": CHAR_NGRAM,
            "texts_indexed": d.texts_indexed, "dropped": runner.decontaminated}  # fmt: skip
