"""The closing summary of a run, printed for a person.

It shows where every call went, per step, the same way the progress bar counts them:

    complete: 30/30 rows in data/run1 (41.2s)
      by task type: classification 9, retrieval 12, sts 9
      brainstorm: 4 calls = 3 useful + 1 rejected + 0 errors; rejected: invalid_json 1
      examples: 52 calls = 30 kept + 1 held + 2 duplicates + 0 decontaminated + 18 rejected + 1 errors
        rejected: too_short 12, missing_keys 6; errors: timeout 1
      calls per kept row: 1.87 (brainstorm 0.13, examples 1.73)
      ...
"""

from __future__ import annotations

from pathlib import Path


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _step_line(name: str, step: dict, categories: tuple[str, ...]) -> list[str]:
    parts = " + ".join(f"{step[c]:,} {c}" for c in categories)
    lines = [f"  {name}: {step['calls']:,} calls = {parts}"]
    why = []
    if step["rejects"]:
        why.append(f"rejected: {_counts(step['rejects'])}")
    if step.get("errors_by_cause"):
        why.append(f"errors: {_counts(step['errors_by_cause'])}")
    if step.get("useful_why"):
        why.append(f"useful: {_counts(step['useful_why'])}")
    if step.get("held_why"):
        why.append(f"held: {_counts(step['held_why'])}")
    if why:
        lines.append("    " + "; ".join(why))
    return lines


def _server_lines(calls: dict) -> list[str]:
    """What the server could not do: guided decoding it refused, lengths its context could not hold."""
    lines = []
    guided = calls.get("guided") or {}
    if guided.get("fallbacks"):
        lines.append(
            f"  guided decoding: {guided['mode']} after the server refused: " + "; ".join(guided["fallbacks"])
        )
    context = calls.get("context") or {}
    if context.get("capped"):
        lines.append(
            f"  max_tokens lowered on {context['capped']:,} calls to fit the {context['length']:,}-token context "
            f"(asked up to {context['capped_largest_ask']:,}; from {context['source']}): asked lengths could not fit"
        )
    if context.get("overflows"):
        lines.append(f"  {context['overflows']:,} calls failed: their prompt alone fills the model's context")
    cache = calls.get("prompt_cache_this_run") or {}
    if cache.get("cached_tokens"):
        lines.append(
            f"  prompt cache: {cache['cached_tokens']:,} of {cache['prompt_tokens']:,} prompt tokens this run "
            f"({cache['cached_tokens'] / cache['prompt_tokens']:.0%}) read from the engine's cache"
        )
    return lines


def _unread(calls: dict) -> int:
    """Journaled calls this run neither made nor read: answers past what it needed (a finished run)."""
    return calls["journaled"] - calls["made_this_run"] - calls["answered_from_journal_this_run"]


def format_summary(stats: dict, out: Path) -> str:
    calls = stats["calls"]
    accounting = stats["accounting"]
    types = ", ".join(f"{k} {v}" for k, v in stats["per_task_type"].items()) or "none"
    retries = ", ".join(f"{k} {v}" for k, v in calls["retries_this_run"].items()) or "none"
    lines = [
        f"{stats['status']}: {stats['rows']:,}/{stats['target']:,} rows in {out} ({stats['elapsed_s']:.1f}s)",
        f"  by task type: {types}",
        *_step_line("brainstorm", accounting["brainstorm"], ("useful", "rejected", "errors")),
        *_step_line(
            "examples",
            accounting["examples"],
            ("kept", "held", "duplicates", "decontaminated", "rejected", "errors"),
        ),
    ]
    per_row = accounting["calls_per_row"]
    if per_row["all"] is not None:
        lines.append(
            f"  calls per kept row: {per_row['all']:.2f} "
            f"(brainstorm {per_row['brainstorm']:.2f}, examples {per_row['examples']:.2f})"
        )
    if not accounting["balanced"]:  # a bug, never a user error: say so loudly
        lines.append(f"  WARNING: the accounting does not balance ({accounting['calls']} calls journaled)")
    definitions = stats["task_definitions"]
    if definitions["valid"] or definitions["rejected"]:
        lines.append(
            f"  task definitions: {definitions['valid']:,} valid; rejected: {_counts(definitions['rejected'])}"
        )
    served = {t: b["examples_on"] for t, b in stats["brainstorm"].items()}
    reused = {t: s for t, s in served.items() if s["reused"] or s["fallback"]}
    if reused:
        lines.append(
            "  tasks reused (brainstorm budget --brainstorm-share reached, or brainstorms kept failing): "
            + "; ".join(f"{t} {s['reused']} reused, {s['fallback']} built-in" for t, s in reused.items())
        )
    lines += [
        f"  languages: {len(stats['per_language'])}; rejected examples (every attempt failed): "
        f"{stats['rejected_examples']}",
        f"  calls: {calls['made_this_run']:,} made now + {calls['answered_from_journal_this_run']:,} read from the "
        f"journal + {_unread(calls):,} journaled but not needed now = {calls['journaled']:,} in all; "
        f"HTTP requests now: {calls['http_requests_this_run']:,}; retries: {retries}",
        f"  tokens: {stats['tokens']['prompt']:,} prompt + {stats['tokens']['completion']:,} completion; "
        f"cost ${stats['cost_usd']:.4f}",
    ]
    lines += _server_lines(calls)
    if calls.get("abandoned_in_flight_this_run"):
        lines.append(
            f"  {calls['abandoned_in_flight_this_run']} calls were cut off in flight (sent, never answered): "
            "a rerun asks them again"
        )
    waiting = accounting["examples"].get("waiting") or {}
    if waiting.get("answers"):
        behind = ", ".join(f"g:{i}" for i in waiting["behind"])
        more = waiting["behind_count"] - len(waiting["behind"])
        lines.append(
            f"  valid answers left waiting: {waiting['answers']:,} of {waiting['valid']:,} paid for, behind "
            f"{waiting['behind_count']:,} unfinished calls ({behind}{f', +{more:,} more' if more else ''}); "
            "a rerun folds them in free"
        )
    if stats["status"].startswith("stopped"):
        lines.append("  stopped by a budget flag: rerun the same command with a higher limit to go on")
    if stats["status"] == "interrupted":
        lines.append("  interrupted: rerun the same command to go on where it stopped")
    return "\n".join(lines)
