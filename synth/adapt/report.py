"""The adapt report: base vs tuned retrieval on the held-out documents, what the data came to, what
it cost and how long each stage took, as report.json, report.md and report.png."""

from __future__ import annotations

import json
from pathlib import Path

METRICS = (("ndcg_at_10", "nDCG@10"), ("recall_at_10", "recall@10"), ("mrr_at_10", "MRR@10"))
REPORT_FORMAT = 1


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def build_report(root: Path, state: dict) -> dict:
    base = _json(root / "results" / "base.json").get("scores", {})
    tuned = _json(root / "results" / "tuned.json").get("scores", {})
    data = _json(root / "data" / "stats.json")
    judged = _json(root / "judged" / "stats.json")
    mined = _json(root / "mined" / "stats.json")
    stages = state.get("stages", {})
    cost = data.get("cost_usd", 0.0) + judged.get("judge", {}).get("cost_usd", 0.0)
    return {
        "format_version": REPORT_FORMAT,
        "settings": state.get("settings", {}),
        "metrics": {
            key: {
                "base": base.get(key),
                "tuned": tuned.get(key),
                "gain": None if key not in base or key not in tuned else tuned[key] - base[key],
            }
            for key, _ in METRICS
        },
        "data": {
            "corpus": stages.get("corpus", {}).get("result", {}),
            "generated_rows": data.get("rows"),
            "generation_calls": data.get("calls", {}).get("journaled"),
            "judge": judged.get("judge"),
            "split": stages.get("split", {}).get("result", {}),
            "mined_rows": mined.get("rows"),
        },
        "cost_usd": round(cost, 6),
        "seconds": {name: s.get("seconds") for name, s in stages.items()},
    }


def render_markdown(report: dict) -> str:
    def fmt(x):
        return "-" if x is None else f"{x:.4f}"

    lines = [
        "# Domain adaptation report",
        "",
        f"Base model `{report['settings'].get('base_model')}`, held-out documents of "
        f"`{report['settings'].get('corpus')}`.",
        "",
        "| metric | base | tuned | gain |",
        "|---|---:|---:|---:|",
    ]
    for key, label in METRICS:
        m = report["metrics"][key]
        gain = "-" if m["gain"] is None else f"{m['gain']:+.4f}"
        lines.append(f"| {label} | {fmt(m['base'])} | {fmt(m['tuned'])} | {gain} |")
    d = report["data"]
    corpus, split = d.get("corpus") or {}, d.get("split") or {}
    lines += [
        "",
        "## Data",
        "",
        "| | |",
        "|---|---:|",
        f"| documents (held out) | {corpus.get('documents', '-')} ({corpus.get('held_out_documents', '-')}) |",
        f"| passages | {corpus.get('passages', '-')} |",
        f"| generated rows (LLM calls) | {d.get('generated_rows', '-')} ({d.get('generation_calls', '-')}) |",
        f"| training rows / held-out queries | {split.get('train_rows', '-')} / {split.get('eval_queries', '-')} |",
        f"| rows with mined negatives | {d.get('mined_rows', '-')} |",
    ]
    if d.get("judge"):
        j = d["judge"]
        lines.append(
            f"| judge ({j.get('mode', '-')}): dropped / relabelled | {j.get('dropped', '-')} / "
            f"{j.get('relabelled', '-')} |"
        )
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
    lines += ["", "![base vs tuned](report.png)", ""]
    return "\n".join(lines)


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for _, label in METRICS]
    base = [report["metrics"][k]["base"] or 0.0 for k, _ in METRICS]
    tuned = [report["metrics"][k]["tuned"] or 0.0 for k, _ in METRICS]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], base, width=0.4, label="base")
    ax.bar([x + 0.2 for x in xs], tuned, width=0.4, label="tuned")
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
