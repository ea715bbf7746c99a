"""What a mining run reports: stats.json's `mining` section, the card's section on it, the summary."""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2

from synth.card.render import DEFAULT_LICENSE, existing_license, render_card
from synth.dataset import write_text
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
log = logging.getLogger(__name__)


def mining_stats(
    mined: Mined, options: MiningOptions, *, source: str, model: str, query_format: str, device: str,
    elapsed_s: float,
) -> dict:  # fmt: skip
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


def card_section(mining: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(CARD_SECTION).render(m=mining)


def copied_card(data: Path, mining: dict) -> str | None:
    """The input's card plus the mining section: what the new dir holds until it is re-rendered."""
    readme = data / "README.md"
    if not readme.exists():
        return None
    return readme.read_text(encoding="utf-8").rstrip("\n") + "\n" + card_section(mining)


def rerender_card(data: Path, out: Path, stats: dict) -> None:
    """The generator's card re-rendered in OUT for the rows that remain (render_card reads OUT's rows)."""
    try:
        text = render_card(out, stats, existing_license(data) or DEFAULT_LICENSE)
    except (KeyError, ValueError, jinja2.UndefinedError) as err:  # a stats.json not written by synth.generate
        log.warning("kept the input's card: cannot re-render it (%s: %s)", type(err).__name__, err)
        return
    write_text(out / "README.md", text.rstrip("\n") + "\n" + card_section(stats["mining"]))


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
