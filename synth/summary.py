"""The closing summary of a run, printed for a person."""

from __future__ import annotations

from pathlib import Path


def format_summary(stats: dict, out: Path) -> str:
    calls = stats["calls"]
    types = ", ".join(f"{k} {v}" for k, v in stats["per_task_type"].items()) or "none"
    rejects = ", ".join(f"{k} {v}" for k, v in stats["rejects"].items()) or "none"
    retries = ", ".join(f"{k} {v}" for k, v in calls["retries_this_run"].items()) or "none"
    lines = [
        f"{stats['status']}: {stats['rows']:,}/{stats['target']:,} rows in {out} ({stats['elapsed_s']:.1f}s)",
        f"  by task type: {types}",
        f"  languages: {len(stats['per_language'])}; duplicates removed: exact {stats['duplicates']['exact']}, "
        f"near {stats['duplicates']['near']}; rejected examples: {stats['rejected_examples']}",
        f"  rejected answers: {rejects}",
        f"  calls: {calls['made_this_run']:,} made now, {calls['answered_from_journal_this_run']:,} from the journal, "
        f"{calls['journaled']:,} in all; retries: {retries}",
        f"  tokens: {stats['tokens']['prompt']:,} prompt + {stats['tokens']['completion']:,} completion; "
        f"cost ${stats['cost_usd']:.4f}",
    ]
    if stats["status"].startswith("stopped"):
        lines.append("  stopped by a budget flag: rerun the same command with a higher limit to go on")
    if stats["status"] == "interrupted":
        lines.append("  interrupted: rerun the same command to go on where it stopped")
    return "\n".join(lines)
