"""stats.json: what a run really made, computed from a typed `RunTally` (never from the runner).

`Runner.tally()` gathers the tally once the run is over and settled; `build_stats` turns it into the
JSON object written beside the rows, which the card, the summary and `synth.mine` read back.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synth.backends.base import BackendCounters
from synth.checks.decontam import CHAR_NGRAM, NGRAM_WORDS
from synth.checks.langcheck import detector_version, unjudged_languages
from synth.plan.pricing import Price
from synth.run.ledger import Ledger

STATS_VERSION = 2  # 2: rejects per step, accounting, task_definitions


@dataclass
class RowCounts:
    """Kept rows counted as the fold keeps them: the rows themselves stream to disk."""

    rows: int = 0
    per_type: Counter = field(default_factory=Counter)
    per_language: Counter = field(default_factory=Counter)
    per_language_pair: Counter = field(default_factory=Counter)
    per_type_language: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    negatives_dropped: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    passages: set[str] = field(default_factory=set)  # corpus passages that are a kept row's positive
    queries_dropped: Counter = field(default_factory=Counter)  # of answers asked for several, by reason

    def add(self, row: dict) -> None:
        self.rows += 1
        self.per_type[row["task_type"]] += 1
        self.per_language[row["language"]] += 1
        if row["language_pair"]:
            self.per_language_pair[row["language_pair"]] += 1
        self.per_type_language[row["task_type"]][row["language"]] += 1
        if row.get("passage_id"):
            self.passages.add(row["passage_id"])
        if reason := row.get("negative_dropped"):
            self.negatives_dropped[row["task_type"]][reason] += 1

    def section(self) -> dict:
        """The per-row counts of stats.json."""
        return {
            "per_task_type": dict(sorted(self.per_type.items())),
            "per_language": dict(self.per_language.most_common()),
            "per_language_pair": dict(self.per_language_pair.most_common()),
            "per_task_type_language": {
                t: dict(c.most_common()) for t, c in sorted(self.per_type_language.items())
            },
            # kept rows whose written negative failed its checks and was dropped, by reason
            "negatives_dropped": {
                t: dict(c.most_common()) for t, c in sorted(self.negatives_dropped.items())
            },
            # queries of calls asked for several (--queries-per-call) that gave no row although
            # the call did, by reason: their own checks, or exact/near duplicates, decontaminated
            "queries_dropped": dict(self.queries_dropped.most_common()),
        }


@dataclass(frozen=True)
class RunTally:
    rows: RowCounts  # the dataset's rows, counted (they are on disk)
    target: int  # --num-examples
    ledger: Ledger  # every journal record's category, settled
    journaled: int  # journal records (calls) in all
    rejected_examples: int  # example calls whose every attempt failed
    examples_folded: int  # example calls folded into the prefix
    pools: dict[str, dict]  # per brainstormed task type: TaskPool.stats()
    counters: BackendCounters  # HTTP requests, retries, guided mode, context caps of this run
    price: Price
    cost: float  # USD over the whole journal
    rejects: Callable[[], Iterator[dict]]  # every rejected answer, as in .synth/rejects.jsonl, read lazily
    wrong_language: Counter  # rejects for the language check, by asked language
    wrong_script: Counter
    decontamination: dict | None  # {"sets", "texts_indexed"}, or None without --decontaminate


def build_stats(
    tally: RunTally,
    *,
    language_check: bool = True,
    status: str,
    generator: dict,
    templates: dict[str, str],
    elapsed_s: float,
    earlier: tuple[float, int] = (0.0, 0),
    corpus: dict | None = None,
) -> dict:
    """stats.json. `earlier`: (seconds, runs) of the runs before this one into the same dir
    (`earlier_runs`); `corpus`: a grounded run's corpus section (`synth.modes.corpus_run.corpus_section`)."""
    rows = tally.rows
    ledger = tally.ledger
    accounting = ledger.balance(tally.journaled)
    examples = ledger.steps["examples"]
    accounting["calls_per_row"] = _calls_per_row(accounting, rows.rows)
    counters = tally.counters
    made = sum(t.made for t in ledger.steps.values())
    return {
        "format_version": STATS_VERSION,
        "status": status,
        "rows": rows.rows,
        "target": tally.target,
        **rows.section(),
        "duplicates": {
            "exact": examples.why("duplicates").get("exact", 0),
            "near": examples.why("duplicates").get("near", 0),
        },
        "rejects": ledger.rejects(),
        "rejected_examples": tally.rejected_examples,
        "examples_folded": tally.examples_folded,
        "brainstorm": tally.pools,
        "task_definitions": {
            "valid": ledger.task_definitions["valid"],
            "rejected": {k: v for k, v in ledger.task_definitions.most_common() if k != "valid"},
        },
        "accounting": accounting,
        "calls": {
            "journaled": tally.journaled,
            "failed": accounting["brainstorm"]["errors"] + accounting["examples"]["errors"],
            "made_this_run": made,
            "answered_from_journal_this_run": sum(t.calls for t in ledger.steps.values()) - made,
            "abandoned_in_flight_this_run": ledger.abandoned,
            "http_requests_this_run": counters.requests,
            # prompt tokens answered this run, and those the engine took from its prompt cache
            "prompt_cache_this_run": {
                "prompt_tokens": counters.prompt_tokens,
                "cached_tokens": counters.cached_prompt_tokens,
            },
            "cut_off_on_the_wire_this_run": counters.cut_off,
            "retries_this_run": dict(counters.retries),
            "guided": {
                "mode": counters.guided_mode,
                "fallbacks": list(counters.guided_fallbacks),
                "resends": counters.guided_resends,
            },
            "context": {
                "length": counters.context_length,
                "source": counters.context_source,
                "capped": counters.capped,
                "capped_largest_ask": counters.capped_largest_ask,
                "resends": counters.context_resends,
                "overflows": counters.context_overflows,
            },
        },
        "tokens": {"prompt": ledger.prompt_tokens, "completion": ledger.completion_tokens},
        "cost_usd": round(tally.cost, 6),
        "price_per_million": {
            "input": tally.price.input_per_million,
            "output": tally.price.output_per_million,
            "known": tally.price.known,
        },
        "generator": generator,
        "templates": templates,
        "elapsed_s": round(elapsed_s, 2),  # this run (a resume: this resume)
        "elapsed_total_s": round(earlier[0] + elapsed_s, 2),  # every run into this dir that wrote stats
        "runs": earlier[1] + 1,
        **({"corpus": {**corpus, "passages_used": len(rows.passages)}} if corpus is not None else {}),
        "language_check": _language_check(tally.wrong_language, tally.wrong_script, language_check),
        "decontamination": _decontamination(tally.decontamination, examples.categories["decontaminated"]),
    }


def earlier_runs(out: Path) -> tuple[float, int]:
    """(seconds, runs) the earlier runs into `out` recorded in its stats.json; (0, 0) for a new dir.
    A run killed before writing stats.json (SIGKILL, a power cut) is not counted."""
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0.0, 0
    elapsed = stats.get("elapsed_total_s", stats.get("elapsed_s", 0.0))
    return float(elapsed or 0.0), int(stats.get("runs", 1))


def _calls_per_row(accounting: dict, rows: int) -> dict:
    """Paid calls per kept row, per step: what a row cost in calls (None before the first row)."""
    if not rows:
        return {"brainstorm": None, "examples": None, "all": None}
    b, e = accounting["brainstorm"]["calls"], accounting["examples"]["calls"]
    return {"brainstorm": round(b / rows, 3), "examples": round(e / rows, 3), "all": round((b + e) / rows, 3)}


def _language_check(wrong: Counter, script: Counter, enabled: bool) -> dict:
    if not enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        "detector": detector_version(),
        "unjudged_languages": unjudged_languages(),
        "wrong_language": dict(wrong.most_common()),
        "wrong_script": dict(script.most_common()),
    }


def _decontamination(d: dict | None, dropped: int) -> dict:
    if d is None:
        return {"sets": [], "dropped": 0}
    return {
        "sets": d["sets"],
        "ngram_words": NGRAM_WORDS,
        "char_ngram": CHAR_NGRAM,
        "texts_indexed": d["texts_indexed"],
        "dropped": dropped,
    }
