"""What a mining run reports: stats.json's `mining` section, the card's section on it, the summary."""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2

from synth.card.render import DEFAULT_LICENSE, existing_license, render_card
from synth.dataset.dataset import write_text
from synth.mining.negatives import Mined, MiningOptions

MINING_FORMAT_VERSION = 1
CARD_SECTION = """
## Hard negatives mined

`mined_negatives` holds up to {{ m.num_negatives }} negatives per row, mined from the dataset's own
positives with `{{ m.model }}` ({{ m.query_format }} queries), nearest first, within each task type
{%- if m.by_language %} and language{% endif %}; candidates scoring above the {{ m.guard.mode }}
guard ({{ m.guard.value }}) against the row's positive were skipped as probable false negatives
({{ m.false_negatives_skipped }} in all). Mean negatives per row: {{ "%.2f"|format(m.mean_negatives_per_row) }}.
{%- if m.consistency_k %} Rows whose positive ranked below {{ m.consistency_k }} for their own query
were dropped: {{ m.dropped_by_consistency }} of {{ m.rows_in }}.{% endif %}
"""
TEACHER_FORMAT_VERSION = 1
TEACHER_SECTION = """
## Teacher scores

`teacher_scores` holds, for each row, `{{ t.model }}`'s ({{ t.kind }}, {{ t.score }}) score of the
row's query against each of its candidates, in this order: {{ t.candidate_order }} (the written
negative only where there is one); so the first score is the positive's. {{ t.pairs }} distinct (query, candidate) pairs were scored
({{ t.candidates_per_row }} candidates a row on average). The positive scored highest of its
candidates in {{ "%.1f"|format(100 * t.positive_top_share) }}% of the rows; mean score of the
positive {{ "%.3f"|format(t.mean_positive) }}, of the negatives {{ "%.3f"|format(t.mean_negative) if t.mean_negative is not none else "-" }}.
{%- if t.kind == "judge" %} The LLM judge graded each pair 1-5 with synth.judge's score prompt; a score is the mean
of its relevance and answerability grades ({{ t.calls.calls }} calls, {{ t.calls.pairs_from_judge_column }} pairs taken from the
input's `judge` column).{% endif %}
{%- if t.rows_dropped_unscored %} {{ t.rows_dropped_unscored }} rows were left out: the teacher gave a candidate of theirs no score.{% endif %}
"""
log = logging.getLogger(__name__)


def mining_stats(
    mined: Mined,
    options: MiningOptions,
    *,
    source: str,
    model: str,
    query_format: str,
    device: str,
    elapsed_s: float,
) -> dict:
    kept = [n for n, keep in zip(mined.negatives, mined.keep, strict=True) if keep]
    total = sum(len(n) for n in kept)
    return {
        "format_version": MINING_FORMAT_VERSION,
        "source": source,
        "model": model,
        "query_format": query_format,
        "device": device,
        "num_negatives": options.num_negatives,
        "guard": {"mode": options.guard.mode, "value": options.guard.value},
        "by_language": options.by_language,
        "consistency_k": options.consistency_k,
        "rows_in": len(mined.keep),
        "rows_out": len(kept),
        "dropped_by_consistency": mined.dropped,
        "negatives_mined": total,
        "mean_negatives_per_row": round(total / len(kept), 3) if kept else 0.0,
        "rows_short_of_k": sum(1 for n in kept if len(n) < options.num_negatives),
        "false_negatives_skipped": mined.skipped,
        "pool_sizes": mined.pools,
        "elapsed_s": round(elapsed_s, 2),
        "rows_per_s": round(len(mined.keep) / elapsed_s, 1) if elapsed_s > 0 else None,
    }


def teacher_stats(teacher, scored, column, *, elapsed_s: float, batch_size: int, chunk_rows: int) -> dict:
    """stats.json's `teacher` section: who scored, in which candidate order, and what came out."""
    from common.candidates import CANDIDATE_ORDER, TEACHER_SCORES

    lists = column.to_pylist()
    pos = [s[0] for s in lists if s]
    neg = [v for s in lists for v in s[1:]]
    top = sum(1 for s in lists if s and all(s[0] > v for v in s[1:]))
    return {
        "format_version": TEACHER_FORMAT_VERSION,
        "column": TEACHER_SCORES,
        "model": teacher.name,
        "kind": teacher.kind,
        "score": teacher.fingerprint().get("score", teacher.kind),
        "query_format": teacher.query_format,
        "device": teacher.device,
        "candidate_order": CANDIDATE_ORDER,
        "rows": len(lists),
        "candidates_per_row": round(sum(map(len, lists)) / len(lists), 3) if lists else 0.0,
        "pairs": scored.pairs_scored + scored.pairs_reused,
        "pairs_scored_now": scored.pairs_scored,
        "pairs_reused": scored.pairs_reused,
        "parts": scored.parts,
        "parts_reused": scored.parts_reused,
        "chunk_rows": chunk_rows,
        "batch_size": batch_size,
        "positive_top_share": round(top / len(lists), 4) if lists else 0.0,
        "mean_positive": round(sum(pos) / len(pos), 4) if pos else 0.0,
        "mean_negative": round(sum(neg) / len(neg), 4) if neg else None,
        "rows_dropped_unscored": scored.rows_dropped,
        **({"calls": scored.calls} if scored.calls is not None else {}),
        "elapsed_s": round(elapsed_s, 2),
    }


def card_section(mining: dict | None, teacher: dict | None = None) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    parts = [env.from_string(CARD_SECTION).render(m=mining)] if mining else []
    if teacher:
        parts.append(env.from_string(TEACHER_SECTION).render(t=teacher))
    return "".join(parts)


def copied_card(data: Path, mining: dict | None, teacher: dict | None = None) -> str | None:
    """The input's card plus the mining section: what the new dir holds until it is re-rendered."""
    readme = data / "README.md"
    if not readme.exists():
        return None
    return readme.read_text(encoding="utf-8").rstrip("\n") + "\n" + card_section(mining, teacher)


def rerender_card(data: Path, out: Path, stats: dict) -> None:
    """The generator's card re-rendered in OUT for the rows that remain (render_card reads OUT's rows)."""
    try:
        text = render_card(out, stats, existing_license(data) or DEFAULT_LICENSE)
    except (KeyError, ValueError, jinja2.UndefinedError) as err:  # a stats.json not written by synth.generate
        log.warning("kept the input's card: cannot re-render it (%s: %s)", type(err).__name__, err)
        return
    section = card_section(stats.get("mining"), stats.get("teacher"))
    write_text(out / "README.md", text.rstrip("\n") + "\n" + section)


def format_summary(m: dict, out: Path) -> str:
    lines = [
        f"mined: {m['rows_in']:,} rows -> {m['rows_out']:,} in {out} ({m['elapsed_s']:.1f}s, {m['rows_per_s']} rows/s)",
        f"  negatives: {m['negatives_mined']:,} (mean {m['mean_negatives_per_row']:.2f} per row, "
        f"{m['rows_short_of_k']:,} rows short of {m['num_negatives']}); probable false negatives skipped: "
        f"{m['false_negatives_skipped']:,}",
        f"  model: {m['model']} ({m['query_format']} queries, {m['device']})",
    ]
    if m["consistency_k"]:
        lines.append(
            f"  dropped by the consistency filter (rank > {m['consistency_k']}): {m['dropped_by_consistency']:,}"
        )
    return "\n".join(lines)


def format_teacher_summary(t: dict) -> str:
    return (
        f"teacher: {t['model']} ({t['kind']}, {t['score']}) scored {t['rows']:,} rows, {t['pairs']:,} pairs "
        f"({t['pairs_reused']:,} from an earlier run's parts) in {t['elapsed_s']:.1f}s; the positive scored "
        f"highest in {100 * t['positive_top_share']:.1f}% of rows" + _judge_line(t)
    )


def _judge_line(t: dict) -> str:
    if "calls" not in t:
        return ""
    c = t["calls"]
    return (
        f"\n  judge calls: {c['made_this_run']:,} made now, {c['answered_from_journal']:,} from the journal, "
        f"{c['pairs_from_judge_column']:,} pairs from the input's judge column; {c['pairs_unscored']:,} pairs "
        f"unscored ({t['rows_dropped_unscored']:,} rows left out); cost of the journal's answers "
        f"${c['cost_usd']:.4f}"
    )
