"""`python -m synth.adapt`: from your documents to an embedder tuned for them, evaluated before and after.

parse flags -> for each stage not yet done: run it (corpus, generate, judge, split, mine, train,
evaluate, report; see synth.adapt.stages) -> the report. A rerun of the same command continues where
the last one stopped, whatever killed it. Exit status: 0 done, 1 a stage failed (one line naming it,
its log under RUN/logs/), 2 bad flags, 3 a budget stopped generation or judging (rerun with a higher
one), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from tqdm import tqdm

from common.cli import fail, parse
from common.model_dir import ModelDirError, check_model_dir
from common.outdir import OutDirError, check_out
from synth.adapt.child import last_lines, run_child
from synth.adapt.config import AdaptConfig
from synth.adapt.report import write_report
from synth.adapt.stages import (
    Paths,
    StageError,
    eval_command,
    generate_command,
    judge_command,
    mine_command,
    prepare_corpus,
    split_stage,
    train_command,
)
from synth.corpus import CorpusError
from synth.dataset.dataset import write_json

PROG = "synth.adapt"
STATE_FORMAT = 1
STAGES = ("corpus", "generate", "judge", "split", "mine", "train", "evaluate", "report")


class Pipeline:
    def __init__(self, cfg: AdaptConfig):
        self.cfg = cfg
        self.paths = Paths(cfg.out)
        self.state = self._load_state()
        stages = [s for s in STAGES if s != "judge" or cfg.judge != "off"]
        self.bar = tqdm(
            total=len(stages), unit="stage", desc="adapt", disable=not cfg.progress, dynamic_ncols=True
        )
        self.stages = stages

    def _load_state(self) -> dict:
        settings = self.cfg.settings()
        if self.paths.state.exists():
            state = json.loads(self.paths.state.read_text())
            if state.get("settings") != settings:
                diff = sorted(k for k in settings if state.get("settings", {}).get(k) != settings[k])
                raise StageError(
                    f"{self.cfg.out} holds a run made with other settings ({', '.join(diff)}); "
                    "use the same flags to continue it, or a new --out"
                )
            return state
        return {"format_version": STATE_FORMAT, "settings": settings, "stages": {}}

    def _save(self) -> None:
        write_json(self.paths.state, self.state)

    def run(self) -> int:
        self.bar.update(sum(1 for s in self.stages if self.state["stages"].get(s, {}).get("done")))
        for name in self.stages:
            if self.state["stages"].get(name, {}).get("done"):
                continue
            self.bar.set_description(f"adapt: {name}")
            record = self.state["stages"].setdefault(name, {})
            started = time.monotonic()
            try:
                status, result = getattr(self, f"_{name}")()
            finally:  # time spent counts, also on a failure or an interrupt; a rerun adds to it
                record["seconds"] = round(record.get("seconds", 0) + time.monotonic() - started, 2)
                self._save()
            if status != 0:
                return status
            record.update(done=True, result=result)
            self._save()
            self.bar.update(1)
        self.bar.set_description("adapt: done")
        self.bar.close()
        return 0

    # ---- stages ------------------------------------------------------------------------------------
    def _child(self, name: str, cmd: list[str]) -> tuple[int, dict]:
        log = self.paths.logs / f"{name}.log"

        def show(line: str) -> None:
            self.bar.set_postfix_str(line[-120:], refresh=True)

        status = run_child(cmd, log, show)
        if status == 3:
            print(
                f"{PROG}: {name} stopped by a budget; rerun with a higher --max-cost to go on",
                file=sys.stderr,
            )
            return 3, {}
        if status == 130:
            return 130, {}
        if status != 0:
            raise StageError(f"{name} failed (exit {status}; log {log}): {last_lines(log, 2)}")
        return 0, {}

    def _corpus(self):
        return 0, prepare_corpus(self.cfg, self.paths)

    def _generate(self):
        return self._child("generate", generate_command(self.cfg, self.paths))

    def _judge(self):
        return self._child("judge", judge_command(self.cfg, self.paths))

    def _split(self):
        return 0, split_stage(self.cfg, self.paths)

    def _mine(self):
        return self._child("mine", mine_command(self.cfg, self.paths))

    def _train(self):
        rows = self.state["stages"]["split"]["result"]["train_rows"]
        return self._child("train", train_command(self.cfg, self.paths, rows))

    def _evaluate(self):
        results = self.paths.results
        results.mkdir(parents=True, exist_ok=True)
        for which, model in (("base", self.cfg.base_model), ("tuned", str(self.paths.model))):
            if (results / f"{which}.json").exists():
                continue
            status, _ = self._child(
                f"evaluate-{which}", eval_command(self.cfg, self.paths, model, results / f"{which}.json")
            )
            if status != 0:
                return status, {}
        return 0, {}

    def _report(self):
        report = write_report(self.paths.root, self.state)
        return 0, {"ndcg_at_10": report["metrics"]["ndcg_at_10"]}


def main(cfg: AdaptConfig) -> int:
    try:  # before any stage pays for anything: where the run goes, and the model it adapts
        check_out(cfg.out, PROG)
        check_model_dir(cfg.base_model, "--base-model")
    except (OutDirError, ModelDirError) as err:
        fail(PROG, str(err), 2)
    if cfg.backend_note:
        print(cfg.backend_note, file=sys.stderr)
    try:
        pipeline = Pipeline(cfg)
        status = pipeline.run()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to go on", file=sys.stderr)
        return 130
    except (StageError, CorpusError) as err:
        fail(PROG, str(err))
    if status == 0:
        report = json.loads((cfg.out / "report.json").read_text())
        m = report["metrics"]["ndcg_at_10"]
        print(
            f"{PROG}: held-out nDCG@10 {m['base']:.4f} -> {m['tuned']:.4f}; report {cfg.out / 'report.md'}",
            file=sys.stderr,
        )
    return status


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = parse(AdaptConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
