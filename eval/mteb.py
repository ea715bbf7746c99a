"""Run MTEB tasks with our encoder: ``python -m eval.mteb --model M --tasks SciFact,STSBenchmark --out results/``.

``--tasks`` takes mteb task names, the paper's set ``e5-mistral-56``, or local paths (a BEIR dir, a
.tsv/.csv STS file). Writes mteb's standard results JSON under ``OUT/results/``, plus
``OUT/summary.md`` and ``OUT/summary.json`` (main score per task, average per task type).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from eval.cli import run_main
from eval.errors import EvalError
from eval.instructions import TASK_SETS, check_override_keys, load_overrides
from eval.mteb_runner import resolve_tasks, run, summarize, summary_markdown, task_instructions
from eval.options import RESULTS_FORMAT, EncoderOptions, out_file

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Evaluate a model on MTEB tasks with the paper's instruction protocol."""

    tasks: str = field(
        metadata={
            "help": f"comma-separated mteb task names, named sets ({', '.join(TASK_SETS)}) or local BEIR dirs / STS files"
        }
    )
    out: Path = field(
        default=Path("results"),
        metadata={
            "help": "output dir (gets results/ JSON per task, summary.json, summary.md), or a summary .json "
            "file whose dir gets the rest"
        },
    )
    instructions: Path | None = field(
        default=None,
        metadata={"help": "JSON/YAML file {task name or task type: instruction} overriding mteb's"},
    )
    languages: str = field(
        default="eng",
        metadata={"help": "ISO 639-3 codes of subsets to run, comma-separated; 'all' for every one"},
    )
    overwrite: str = field(
        default="only-missing",
        metadata={"help": "mteb overwrite strategy: only-missing, always, never, only-cache"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.overwrite not in ("only-missing", "always", "never", "only-cache"):
            raise EvalError(f"--overwrite {self.overwrite!r}: valid: only-missing, always, never, only-cache")


def main(cfg: Config) -> dict:
    overrides = load_overrides(cfg.instructions)
    langs = None if cfg.languages == "all" else [x.strip() for x in cfg.languages.split(",") if x.strip()]
    tasks = resolve_tasks(cfg.tasks, langs)
    check_override_keys(overrides, cfg.instructions, {t.metadata.name for t in tasks})
    out_file(cfg.out, "summary.json", create=False)  # a bad --out is known before the encoding
    encoder = cfg.load_encoder()
    log.info("running %d task(s) on %s", len(tasks), encoder.spec.name)
    summary_path = out_file(str(cfg.out), "summary.json")
    result = run(encoder, tasks, summary_path.parent, overrides, cfg.batch_size, cfg.overwrite)
    summary = summarize(result, tasks, task_instructions(tasks, overrides, encoder.takes_instructions))
    summary = {"format_version": RESULTS_FORMAT, "model": cfg.model, **summary}
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    markdown = summary_markdown(summary, cfg.model)
    summary_path.with_suffix(".md").write_text(markdown)
    print(markdown)
    if summary["errors"]:
        raise EvalError(f"{len(summary['errors'])} task(s) failed, see {summary_path.with_suffix('.md')}")
    return summary


if __name__ == "__main__":
    run_main(Config, main)
