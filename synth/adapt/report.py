"""The adapt report: the verdict first, then base vs tuned vs the model handed back on the held-out
queries (and on your own queries and the guard, when given), each alpha's score, what the data came
to and what each filter dropped (with a sample), what it cost and how long each stage took, as
report.json, report.md and report.png."""

from __future__ import annotations

import json
from pathlib import Path

from synth.adapt.verdict import alpha_name
from synth.dataset.dataset import read_rows
from synth.structure.build import is_weak_pair

METRICS = (("ndcg_at_10", "nDCG@10"), ("recall_at_10", "recall@10"), ("mrr_at_10", "MRR@10"))
REPORT_FORMAT = 2
SAMPLE = 3


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _scores(path: Path) -> dict:
    return _json(path).get("scores", {})


def _metrics(base: dict, other: dict) -> dict:
    return {
        key: {
            "base": base.get(key),
            "result": other.get(key),
            "gain": None if key not in base or key not in other else other[key] - base[key],
        }
        for key, _ in METRICS
    }


def filtered_out(root: Path) -> dict:
    """Rows the round-trip filter (synth.mine --consistency-k) dropped: how many, and a sample."""
    train, mined = root / "train", root / "mined"
    if not (train / "stats.json").exists() or not (mined / "stats.json").exists():
        return {}
    kept = {r["id"] for r in read_rows(mined)}
    dropped = [r for r in read_rows(train) if r["id"] not in kept]
    by_source: dict[str, int] = {}
    for r in dropped:
        source = "weak pairs" if is_weak_pair(r) else "LLM"
        by_source[source] = by_source.get(source, 0) + 1
    return {
        "dropped": len(dropped),
        "by_source": by_source,
        "samples": [{"query": r["query"], "source": r.get("source")} for r in dropped[:SAMPLE]],
    }


def build_report(root: Path, state: dict) -> dict:
    results = root / "results"
    stages = state.get("stages", {})
    merge = stages.get("merge", {}).get("result", {})
    check = stages.get("check", {}).get("result", {})
    verdict = check.get("verdict") or {"line": "no verdict: the run has not finished its check stage"}
    alpha = verdict.get("alpha", merge.get("alpha", 1.0))
    base = _scores(results / "base.json")
    tuned = _scores(results / "tuned.json")
    handed = base if verdict.get("handed_back") == "base" else _scores(results / f"{alpha_name(alpha)}.json")
    data = _json(root / "data" / "stats.json")
    judged = _json(root / "judged" / "stats.json")
    mined = _json(root / "mined" / "stats.json")
    pairs = _json(root / "pairs" / "stats.json")
    cost = data.get("cost_usd", 0.0) + judged.get("judge", {}).get("cost_usd", 0.0)
    eval_data = {}
    if (results / "eval-data-base.json").exists():
        ed_base = _scores(results / "eval-data-base.json")
        ed_result = (
            ed_base if verdict.get("handed_back") == "base" else _scores(results / "eval-data-result.json")
        )
        eval_data = {
            "metrics": _metrics(ed_base, ed_result),
            "queries": _json(results / "eval-data-base.json").get("num_queries"),
        }
    return {
        "format_version": REPORT_FORMAT,
        "verdict": verdict,
        "settings": state.get("settings", {}),
        "metrics": {
            key: {**m, "tuned": tuned.get(key)} for key, m in _metrics(base, handed).items()
        },  # held-out queries: base, result (handed back), tuned (alpha 1)
        "merge": merge,
        "eval_data": eval_data,
        "guard": check.get("guard"),
        "data": {
            "corpus": stages.get("corpus", {}).get("result", {}),
            "weak_pairs": pairs.get("pairs", {}).get("kept"),
            "generated_rows": data.get("rows"),
            "generation_calls": data.get("calls", {}).get("journaled"),
            "judge": judged.get("judge"),
            "split": stages.get("split", {}).get("result", {}),
            "round_trip_filter": {"k": mined.get("mining", {}).get("consistency_k"), **filtered_out(root)},
            "mined_rows": mined.get("rows"),
        },
        "cost_usd": round(cost, 6),
        "seconds": {name: s.get("seconds") for name, s in stages.items()},
    }


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _or_dash(x) -> str:
    return "-" if x is None else str(x)


def _by_rule(kept: dict | None) -> str:
    """{'title_body': 1000, 'last_sentence': 465} -> '1,465 (title_body 1,000, last_sentence 465)'."""
    if not kept:
        return "-"
    return f"{sum(kept.values()):,} ({', '.join(f'{rule} {n:,}' for rule, n in kept.items())})"


def _metric_rows(metrics: dict) -> list[str]:
    lines = ["| metric | base | result | gain |", "|---|---:|---:|---:|"]
    for key, label in METRICS:
        m = metrics[key]
        gain = "-" if m["gain"] is None else f"{m['gain']:+.4f}"
        lines.append(f"| {label} | {_fmt(m['base'])} | {_fmt(m['result'])} | {gain} |")
    return lines


def render_markdown(report: dict) -> str:
    settings, verdict = report["settings"], report["verdict"]
    d = report["data"]
    corpus, split = d.get("corpus") or {}, d.get("split") or {}
    source = (
        f"{split.get('eval_queries_llm', 0)} written by the LLM and {split.get('eval_queries_pairs', 0)} weak "
        "pairs (titles, conclusions) of held-out documents"
    )
    lines = [
        f"**Verdict: {verdict['line']}**",
        "",
        "# Domain adaptation report",
        "",
        f"Base model `{settings.get('base_model')}`, documents `{settings.get('corpus')}`; the model handed "
        f"back is `model/` ({verdict.get('handed_back', '-')}, alpha {verdict.get('alpha', '-')}).",
        "",
    ]
    if report["eval_data"]:
        lines += [
            f"## Your queries (`{settings.get('eval_data')}`, {report['eval_data'].get('queries')} queries)",
            "",
        ]
        lines += _metric_rows(report["eval_data"]["metrics"]) + [""]
    lines += [f"## Held-out queries ({split.get('eval_queries', '-')}: {source})", ""]
    lines += _metric_rows(report["metrics"])
    lines += [
        "",
        "Queries written the way the training rows were written flatter the tuned model; "
        "`--eval-data` with queries people wrote is the measure to trust.",
        "",
    ]
    table = (report.get("merge") or {}).get("table") or []
    if table:
        lines += [
            "### Merging (WiSE-FT): nDCG@10 per alpha",
            "",
            "| alpha | validation half | test half |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {r['alpha']:g} | {_fmt(r['validation'])} | {_fmt(r['test'])} |" for r in table]
        lines += [""]
    guard = report.get("guard")
    if guard:
        lines += [
            f"Guard (`{settings.get('guard_data')}`, {guard['metric']}): base {guard['base']:.4f}, "
            f"result {guard['result']:.4f} (allowed loss {guard['margin']}).",
            "",
        ]
    rt = d.get("round_trip_filter") or {}
    copied = split.get("copied") or {}
    lines += [
        "## Data",
        "",
        "| | |",
        "|---|---:|",
        f"| documents (held out) | {corpus.get('documents', '-')} ({corpus.get('held_out_documents', '-')}) |",
        f"| passages | {corpus.get('passages', '-')} |",
        f"| weak pairs (all documents) | {_by_rule(d.get('weak_pairs'))} |",
        f"| generated rows (LLM calls) | {_or_dash(d.get('generated_rows'))} ({_or_dash(d.get('generation_calls'))}) |",
        f"| LLM queries copying their passage's title / first sentence | {copied.get('title', '-')} / "
        f"{copied.get('first_sentence', '-')} |",
        f"| training rows: LLM + weak pairs | {split.get('train_llm_rows', '-')} + {split.get('train_pair_rows', '-')} |",
        f"| dropped by the round-trip filter (top {rt.get('k') or '-'}) | {rt.get('dropped', '-')} "
        f"{rt.get('by_source') or ''} |",
        f"| rows trained on (with mined negatives) | {d.get('mined_rows', '-')} |",
    ]
    if d.get("judge"):
        j = d["judge"]
        lines.append(
            f"| judge ({j.get('mode', '-')}): dropped / relabelled | {j.get('dropped', '-')} / "
            f"{j.get('relabelled', '-')} |"
        )
    samples = [("round-trip filter dropped", s) for s in rt.get("samples", [])]
    samples += [
        (f"copies its passage's {s['copy_of'].replace('_', ' ')}", s) for s in copied.get("samples", [])
    ]
    if samples:
        lines += ["", "Samples:", ""] + [f"- {why}: {s['query']!r}" for why, s in samples]
    lines += [
        "",
        f"LLM cost: ${report['cost_usd']:.4f}",
        "",
        "## Time per stage",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {'-' if s is None else f'{s:.1f}'} |" for name, s in report["seconds"].items()]
    lines += ["", "![base vs result](report.png)", ""]
    return "\n".join(lines)


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for _, label in METRICS]
    base = [report["metrics"][k]["base"] or 0.0 for k, _ in METRICS]
    result = [report["metrics"][k]["result"] or 0.0 for k, _ in METRICS]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], base, width=0.4, label="base")
    ax.bar([x + 0.2 for x in xs], result, width=0.4, label="handed back")
    ax.set_xticks(list(xs), labels)
    ax.set_ylim(0, 1)
    ax.set_title("Held-out retrieval, before and after adapting")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(root: Path, state: dict) -> dict:
    report = build_report(root, state)
    (root / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (root / "report.md").write_text(render_markdown(report))
    draw(report, root / "report.png")
    return report
