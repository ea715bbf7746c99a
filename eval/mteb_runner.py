"""Run the ``mteb`` package with our encoder and summarise its results.

:class:`MtebEncoder` adapts :class:`eval.encoder.Encoder` to mteb's ``EncoderProtocol``: mteb hands
it a dataloader plus the task metadata; it picks the instruction (:mod:`eval.instructions`) and the
normalisation, and encodes with the shared encoder (length-sorted, cached). A model trained
without instructions gets none (``--use-instructions`` decides, as for the other evaluators);
the instruction each task's queries really got (or none) is logged and goes into the summary. mteb does the rest:
data loading, search, scoring and its standard results JSON (written by ``mteb.ResultCache`` under
``OUT/results/<model>/<revision>/<Task>.json``).

:func:`summary_markdown` renders the main score per task and the average per task type:

    | Task | Type | Main score | Score |        | Type | Tasks | Average |
    | SciFact | Retrieval | ndcg_at_10 | 65.21 | ...  | Retrieval | 1 | 65.21 |

Not handled: cross-encoders, multi-vector models, non-text modalities.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction

from eval.encoder import Encoder
from eval.errors import EvalError
from eval.instructions import TASK_SETS, normalize_for, task_instruction
from eval.local_tasks import local_task

log = logging.getLogger(__name__)


class MtebEncoder(AbsEncoder):
    """mteb ``EncoderProtocol`` over our :class:`Encoder`; cosine similarity."""

    def __init__(self, encoder: Encoder, overrides: dict[str, str] | None = None) -> None:
        self.encoder = encoder
        self.overrides = overrides or {}
        self.logged: set[str] = set()  # tasks whose instruction was logged
        spec = encoder.spec
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites=dict(
                name=spec.name,
                # Local dirs have no Hub revision; the weights' fingerprint separates two trainings.
                revision=spec.fingerprint[:12],
                similarity_fn_name=ScoringFunction.COSINE,
                use_instructions=encoder.takes_instructions,
                max_tokens=spec.max_length,
                framework=["PyTorch", "Sentence Transformers"],
            )
        )

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        instruction = task_instruction(task_metadata, prompt_type, self.overrides)
        if not self.encoder.takes_instructions:
            instruction = None  # trained without instructions (see --use-instructions)
        is_document = prompt_type is not None and getattr(prompt_type, "value", prompt_type) == "document"
        if not is_document and task_metadata.name not in self.logged:
            self.logged.add(task_metadata.name)
            log.info(
                "%s: instruction %s", task_metadata.name, "none" if instruction is None else repr(instruction)
            )
        return self.encoder.encode(texts, instruction=instruction, normalize=normalize_for(task_metadata))


def resolve_tasks(spec: str, languages: Sequence[str] | None = ("eng",)) -> list[Any]:
    """Comma-separated task names, named sets (``e5-mistral-56``) or local paths -> mteb tasks.

    Tasks of a named set come from its mteb benchmark (its splits and English subsets); other
    names from ``mteb.get_tasks`` filtered to ``languages`` (None: every language); an existing
    BEIR dir or .tsv/.csv file becomes a local task (:mod:`eval.local_tasks`).
    """
    import mteb

    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise EvalError("--tasks: give at least one task name or a named set (" + ", ".join(TASK_SETS) + ")")
    tasks: dict[str, Any] = {}
    for name in names:
        if name in TASK_SETS:
            wanted, benchmark = TASK_SETS[name]
            got = {t.metadata.name: t for t in mteb.get_benchmark(benchmark).tasks}
            assert set(got) == set(wanted), (
                f"mteb's {benchmark} no longer matches {name}: {set(got) ^ set(wanted)}"
            )
            tasks.update(got)
            continue
        if (local := local_task(name)) is not None:
            tasks[local.metadata.name] = local
            continue
        try:
            mteb.get_task(name)
        except KeyError:
            close = difflib.get_close_matches(name, [t.metadata.name for t in mteb.get_tasks()], n=3)
            raise EvalError(
                f"--tasks: unknown task {name!r}" + (f"; did you mean {', '.join(close)}?" if close else "")
            ) from None
        for t in mteb.get_tasks(
            tasks=[name], languages=languages, exclusive_language_filter=languages is not None
        ):
            tasks.setdefault(t.metadata.name, t)
        if name not in tasks:
            raise EvalError(f"--tasks: task {name!r} has no subset in languages {list(languages or [])}")
    return list(tasks.values())


def run(
    encoder: Encoder,
    tasks: Sequence[Any],
    out_dir: Path,
    overrides: dict[str, str] | None = None,
    batch_size: int = 32,
    overwrite: str = "only-missing",
) -> Any:
    """mteb.evaluate with results JSON under ``out_dir``; returns mteb's ``ModelResult``."""
    import mteb

    model = MtebEncoder(encoder, overrides)
    return mteb.evaluate(
        model,
        list(tasks),
        cache=mteb.ResultCache(cache_path=out_dir),
        overwrite_strategy=overwrite,
        encode_kwargs={"batch_size": batch_size},
        co2_tracker=False,
        raise_error=False,
    )


def task_instructions(
    tasks: Sequence[Any], overrides: dict[str, str], takes_instructions: bool
) -> dict[str, str | None]:
    """Task name -> the instruction its queries get (symmetric tasks: every input), None for none."""
    if not takes_instructions:
        return {t.metadata.name: None for t in tasks}
    return {t.metadata.name: task_instruction(t.metadata, None, overrides) for t in tasks}


def summarize(
    result: Any, tasks: Sequence[Any], instructions: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """Main score per task (x100, mteb's habit in tables), the average per task type and, given
    ``instructions`` (:func:`task_instructions`), the instruction each task used."""
    by_name = {t.metadata.name: t for t in tasks}
    rows = []
    for tr in result.task_results:
        meta = by_name[tr.task_name].metadata
        row = {
            "task": tr.task_name,
            "type": meta.type,
            "main_score": meta.main_score,
            "score": _percent(tr.get_score()),
        }
        if instructions is not None:
            row["instruction"] = instructions.get(tr.task_name)
        rows.append(row)
    per_type: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["score"] is not None:  # a NaN score (e.g. constant predictions) is shown, not averaged
            per_type[r["type"]].append(r["score"])
    averages = {t: round(float(np.mean(v)), 2) for t, v in sorted(per_type.items())}
    errors = [{"task": e.task_name, "error": e.exception} for e in result.exceptions]
    scored = [r["score"] for r in rows if r["score"] is not None]
    overall = round(float(np.mean(scored)), 2) if scored else None
    return {"tasks": rows, "averages": averages, "average": overall, "errors": errors}


def _percent(score: float) -> float | None:
    """x100, two decimals; None for NaN so that summary.json stays valid JSON."""
    return round(100 * float(score), 2) if np.isfinite(score) else None


def summary_markdown(summary: dict[str, Any], model_name: str) -> str:
    with_instruction = any("instruction" in r for r in summary["tasks"])
    extra = (" Instruction |", "---|") if with_instruction else ("", "")
    lines = [
        f"# MTEB results: {model_name}",
        "",
        "| Task | Type | Main score | Score |" + extra[0],
        "|---|---|---|---:|" + extra[1],
    ]
    for r in summary["tasks"]:
        score = "n/a" if r["score"] is None else f"{r['score']:.2f}"
        line = f"| {r['task']} | {r['type']} | {r['main_score']} | {score} |"
        if with_instruction:
            text = r.get("instruction")
            line += " none |" if text is None else f" {text.replace('|', '/')} |"
        lines.append(line)
    lines += ["", "| Type | Tasks | Average |", "|---|---:|---:|"]
    counts = defaultdict(int)
    for r in summary["tasks"]:
        counts[r["type"]] += 1
    lines += [f"| {t} | {counts[t]} | {v:.2f} |" for t, v in summary["averages"].items()]
    if summary["average"] is not None:
        lines.append(f"| **All** | {len(summary['tasks'])} | {summary['average']:.2f} |")
    if summary["errors"]:
        lines += ["", "Failed tasks:"] + [f"- {e['task']}: {e['error']}" for e in summary["errors"]]
    return "\n".join(lines) + "\n"
