"""`--dry-run`: the plan of a run, its calls, tokens and cost, without touching the network.

Token counts are estimates: prompts are rendered for a sample of the plan (a typical task definition
stands in for brainstormed ones, a grounded call's own corpus passages are shown) and measured at ~4
characters per token; answers are sized from the requested word counts and per-language tokens per
word (synth.plan.pricing). A grounded call gives a row per passage it reads (multi-hop: 2-3), so calls
are planned from the rows they give.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from synth.dataset.dataset import write_json, write_text
from synth.plan.plan import (
    Plan,
    PlannedCall,
    brainstorm_prompt,
)
from synth.plan.pricing import Price, estimate_prompt_tokens
from synth.plan.tasks import TASK_TYPES
from synth.run.pools import EXPECTED_NEW_TASKS_PER_CALL

SAMPLE_CALLS = 3000
EXPECTED_KEEP_RATE = 0.85  # rows kept per step-2 call after re-asks, rejects and dedup
PLACEHOLDER_TASK = (
    "Given a question a patient might ask about a symptom, retrieve medical articles that explain it."
)
BRAINSTORM_ANSWER_TOKENS = 600


def sample_prompt(plan: Plan, call: PlannedCall) -> str:
    """Call's prompt as the run would send it, a placeholder standing in for a brainstormed task."""
    task = PLACEHOLDER_TASK if call.slot is not None else None
    return plan.prompt(call, task)


def plan_run(
    plan: Plan, num_examples: int, examples_per_task: int, price: Price, corpus: dict | None = None
) -> dict:
    """The plan.json of a dry run; `corpus`: the corpus section of a grounded run (`corpus_section`)."""
    sample = min(num_examples, SAMPLE_CALLS)
    per_type: dict[str, dict[str, float]] = defaultdict(
        lambda: {"n": 0, "rows": 0, "prompt": 0, "completion": 0}
    )
    for i in range(sample):
        call = plan[i]
        t = per_type[call.task_type]
        t["n"] += 1
        t["rows"] += max(1, len(call.passages)) * plan.queries(call)
        t["prompt"] += estimate_prompt_tokens(sample_prompt(plan, call))
        t["completion"] += plan.completion_estimate(call)
    rows = {}
    sampled_rows = sum(t["rows"] for t in per_type.values())
    scale = num_examples / EXPECTED_KEEP_RATE / sampled_rows  # calls per sampled call
    for task_type, t in sorted(per_type.items()):
        calls = math.ceil(t["n"] * scale)
        prompt_tokens = t["prompt"] * scale
        completion_tokens = t["completion"] * scale
        brainstorms = 0
        if TASK_TYPES[task_type].brainstorm_template:
            brainstorms = math.ceil(calls / examples_per_task / EXPECTED_NEW_TASKS_PER_CALL)
            prompt_tokens += brainstorms * estimate_prompt_tokens(brainstorm_prompt(task_type))
            completion_tokens += brainstorms * BRAINSTORM_ANSWER_TOKENS
        rows[task_type] = {
            "examples": round(t["rows"] / sampled_rows * num_examples),
            "generate_calls": calls,
            "brainstorm_calls": brainstorms,
            "prompt_tokens": int(prompt_tokens),
            "completion_tokens": int(completion_tokens),
            "cost_usd": round(price.cost(prompt_tokens, completion_tokens), 2),
        }
    total = {k: sum(r[k] for r in rows.values()) for k in next(iter(rows.values()))}
    total["cost_usd"] = round(total["cost_usd"], 2)
    report = {
        "per_task_type": rows,
        "total": total,
        "model": price.model,
        "price_known": price.known,
        "price_per_million": [price.input_per_million, price.output_per_million],
    }
    if corpus is not None:
        report["corpus"] = corpus
    return report


def write_samples(plan: Plan, folder: Path) -> list[Path]:
    """One rendered prompt per task type (and per brainstorm template), for a human to read."""
    written: dict[str, Path] = {}
    for i in range(SAMPLE_CALLS):
        call = plan[i]
        if call.task_type in written:
            continue
        path = folder / f"{call.task_type}_generate.txt"
        write_text(path, sample_prompt(plan, call) + "\n")
        written[call.task_type] = path
        if TASK_TYPES[call.task_type].brainstorm_template:
            b_path = folder / f"{call.task_type}_brainstorm.txt"
            write_text(b_path, brainstorm_prompt(call.task_type) + "\n")
            written[call.task_type + "_b"] = b_path
    return sorted(written.values())


def format_plan(report: dict) -> str:
    header = f"{'task type':<15}{'examples':>10}{'calls':>10}{'brainstorm':>11}{'prompt tok':>13}{'compl tok':>13}{'cost $':>11}"
    lines = [header, "-" * len(header)]
    if corpus := report.get("corpus"):
        chunking = f"chunks of {corpus['chunk_tokens']} tokens" if corpus["chunk_tokens"] else "pre-chunked"
        lines.insert(
            0,
            f"corpus {corpus['path']}: {corpus['passages']:,} passages of {corpus['documents']:,} "
            f"documents in {corpus['files']:,} files ({chunking})\n",
        )
    for name, r in list(report["per_task_type"].items()) + [("total", report["total"])]:
        lines.append(
            f"{name:<15}{r['examples']:>10,}{r['generate_calls']:>10,}{r['brainstorm_calls']:>11,}"
            f"{r['prompt_tokens']:>13,}{r['completion_tokens']:>13,}{r['cost_usd']:>11,.2f}"
        )
    if not report["price_known"]:
        lines.append(f"(no price known for {report['model']}: pass --price-in/--price-out or --prices)")
    return "\n".join(lines)


def save_plan(report: dict, folder: Path) -> Path:
    path = folder / "plan.json"
    write_json(path, report)
    return path


def run_dry(cfg, setup, price) -> int:
    """--dry-run: the plan, its price and sample prompts; no calls."""
    report = plan_run(setup.plan, cfg.num_examples, cfg.examples_per_task, price, setup.corpus)
    folder = cfg.out / ".synth" / "plan"
    samples = write_samples(setup.plan, folder)
    plan_path = save_plan(report, folder)
    print(f"dry run: {cfg.num_examples:,} examples with {cfg.model} (no calls made)\n")
    print(format_plan(report))
    print(f"\nplan: {plan_path}\nsample prompts: {', '.join(str(p) for p in samples[:3])} ...")
    return 0
