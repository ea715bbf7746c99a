"""What a judge run reports: stats.json's `judge` section, the card's section on it, the summary."""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2

from synth.card.render import DEFAULT_LICENSE, existing_license, render_card
from synth.judge.answers import templates
from synth.mining.report import card_section as mining_card_section

JUDGE_FORMAT_VERSION = 1
RULE = "dropped when min(relevance, answerability, clarity) < threshold"
CARD_SECTION = """
## LLM judge

{% if j.mode == "score" -%}
`{{ j.model }}` rated each grounded (query, passage) pair 1-5 for relevance, for how fully the passage
answers the query, and for the query's clarity (a multi-hop query with all its passages together).
Rows whose lowest score was below {{ j.threshold }} were dropped: {{ j.rows.dropped }} of {{ j.rows.in }}
{%- if j.rows.dropped_by_reason %} ({% for r, n in j.rows.dropped_by_reason.items() %}{{ r }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}){% endif %}.
The `judge` column holds each judged row's scores as JSON.
{%- else -%}
For each grounded single-passage row, `{{ j.model }}` chose the passage that best answers its query
among the top {{ j.retrieval.top_k }} of the corpus retrieved with `{{ j.retrieval.embed_model }}`, the
passage the query was written from always among them; that passage is now the row's positive.
{{ j.rows.relabelled }} of {{ j.rows.judged }} judged rows got another passage than the one they were written from.
The `judge` column holds the pick as JSON (`best`, `candidates`, `seed`, `relabelled`).
{%- endif %}
{%- if j.rows.unjudged %} Rows the judge gave no verdict on were {{ "dropped" if j.on_invalid == "drop" else "kept, unjudged" }}:
{% for r, n in j.rows.unjudged.items() %}{{ r }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}.{% endif %}
"""
log = logging.getLogger("synth.judge")


def judge_stats(
    cfg,
    counts: dict,
    balance: dict,
    ledger,
    price,
    *,
    elapsed_s: float,
    base_url: str | None,
    retrieval: dict | None,
) -> dict:
    tally = ledger.steps["judge"]
    used_in, used_out = tally.used_tokens
    section = {
        "format_version": JUDGE_FORMAT_VERSION,
        "mode": cfg.mode,
        "source": cfg.data.resolve().name,
        "backend": cfg.backend,
        "model": cfg.model,
        "base_url": base_url,
        "temperature": cfg.temperature,
        "templates": templates(),
        "on_invalid": cfg.on_invalid,
        "max_reasks": cfg.max_reasks,
        "rows": counts,
        "dropped": counts["dropped"],  # at the top as well: what synth.adapt's report reads
        "calls": {
            **balance,
            "made_this_run": tally.made,
            "answered_from_journal": tally.calls - tally.made,
            "abandoned_in_flight_this_run": ledger.abandoned,
        },
        "tokens": {"prompt": used_in, "completion": used_out},
        "cost_usd": round(price.cost(used_in, used_out), 6),  # of the calls these rows rest on
        "price_known": price.known,
        "elapsed_s": round(elapsed_s, 2),
    }
    if cfg.mode == "score":
        section.update(threshold=cfg.threshold, rule=RULE)
    else:
        section.update(relabelled=counts["relabelled"], retrieval=retrieval)
    return section


def card_section(judge: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(CARD_SECTION).render(j=judge)


def card_text(data: Path, out: Path, stats: dict) -> str | None:
    """The generator's card re-rendered for the rows in OUT, with the mining section (when the input
    was mined) and the judge's; the input's card plus the judge section where it cannot be
    re-rendered (a stats.json not written by synth.generate)."""
    sections = [mining_card_section(stats["mining"])] if "mining" in stats else []
    sections.append(card_section(stats["judge"]))
    try:
        text = render_card(out, stats, existing_license(data) or DEFAULT_LICENSE)
    except (KeyError, ValueError, TypeError, jinja2.UndefinedError) as err:
        log.warning("kept the input's card: cannot re-render it (%s: %s)", type(err).__name__, err)
        readme = data / "README.md"
        if not readme.exists():
            return None
        text, sections = readme.read_text(encoding="utf-8"), sections[-1:]
    return text.rstrip("\n") + "\n" + "".join(sections)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def format_summary(j: dict | None, status: str, balance: dict, ledger, cost: float, out: Path) -> str:
    """The closing lines for a person; `j` is None when the run stopped before writing."""
    calls = " + ".join(f"{balance[c]:,} {c}" for c in ("kept", "dropped", "rejected", "errors"))
    tally = ledger.steps["judge"]
    lines = []
    if j is not None:
        rows = j["rows"]
        lines += [
            f"{status} ({j['mode']}): {rows['in']:,} rows -> {rows['out']:,} in {out} ({j['elapsed_s']:.1f}s)",
            f"  rows: {rows['judged']:,} judged; passed through unjudged: {_counts(rows['passed_through'])}; "
            f"no verdict ({'dropped' if j['on_invalid'] == 'drop' else 'kept'}): {_counts(rows['unjudged'])}",
            f"  dropped {rows['dropped']:,}: {_counts(rows['dropped_by_reason'])}",
        ]
        if j["mode"] == "relabel":
            lines.append(
                f"  relabelled: {rows['relabelled']:,} of {rows['judged']:,} judged rows have a new positive"
            )
    else:
        lines.append(
            f"{status}: nothing written to {out} yet (the journal in {out}/.synth keeps every answer)"
        )
    lines.append(f"  calls: {balance['calls']:,} = {calls}")
    if balance["rejects"] or balance["errors_by_cause"]:
        lines.append(
            f"    rejected: {_counts(balance['rejects'])}; errors: {_counts(balance['errors_by_cause'])}"
        )
    lines.append(
        f"  calls made now: {tally.made:,}; from the journal: {tally.calls - tally.made:,}; "
        f"cost of the journal's answers ${cost:.4f}"
    )
    if not balance["balanced"]:  # a bug, never a user error: say so loudly
        lines.append("  WARNING: the accounting does not balance")
    if ledger.abandoned:
        lines.append(
            f"  {ledger.abandoned} calls were cut off in flight (sent, never answered): a rerun asks them again"
        )
    if status.startswith("stopped"):
        lines.append("  stopped by a budget flag: rerun the same command with a higher limit to go on")
    elif status == "interrupted":
        lines.append("  interrupted: rerun the same command to go on where it stopped")
    return "\n".join(lines)
