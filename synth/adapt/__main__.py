"""`python -m synth.adapt`: from your documents to an embedder tuned for them, evaluated before and after.

parse flags -> for each stage not yet done: run it (corpus, pairs, generate, judge, split, mine,
train, evaluate, merge, check, report; see synth.adapt.stages) -> the report, whose first line is the
verdict (synth.adapt.verdict), also the last line printed. RUN/model is always the model handed back.
A rerun of the same command continues where the last one stopped, whatever killed it. Exit status: 0
done (whatever the verdict), 1 a stage failed (one line naming it, its log under RUN/logs/), 2 bad
flags, 3 a budget stopped generation or judging (rerun with a higher one), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import shutil
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
    guard_command,
    guard_score,
    interpolate_command,
    judge_command,
    mine_command,
    pairs_command,
    prepare_corpus,
    split_stage,
    train_command,
)
from synth.adapt.verdict import alpha_name, choose_alpha, judge
from synth.corpus import CorpusError
from synth.dataset.dataset import write_json

PROG = "synth.adapt"
STATE_FORMAT = 1
STAGES = (
    "corpus",
    "pairs",
    "generate",
    "judge",
    "split",
    "mine",
    "train",
    "evaluate",
    "merge",
    "check",
    "report",
)


def wanted(stage: str, cfg: AdaptConfig) -> bool:
    if stage == "judge":
        return cfg.judge != "off"
    if stage == "generate":
        return cfg.uses_llm
    if stage == "pairs":
        return bool(cfg.pair_rules)
    return True


class Pipeline:
    def __init__(self, cfg: AdaptConfig):
        self.cfg = cfg
        self.paths = Paths(cfg.out)
        self.state = self._load_state()
        stages = [s for s in STAGES if wanted(s, cfg)]
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

    def _pairs(self):
        status, _ = self._child("pairs", pairs_command(self.cfg, self.paths))
        stats = json.loads((self.paths.pairs / "stats.json").read_text()) if status == 0 else {}
        return status, {"rows": stats.get("rows"), "kept": stats.get("pairs", {}).get("kept")}

    def _generate(self):
        # Before paying for a call: could the rows ever fill one training batch? (An upper bound:
        # every answer kept, pairs and answers shared out between the sides as the documents are.)
        pairs = self.state["stages"].get("pairs", {}).get("result", {}).get("rows") or 0
        at_most = int((pairs + self.cfg.num_examples) * (1 - self.cfg.held_out))
        if at_most < self.cfg.batch_size:
            raise StageError(
                f"generate: at most {at_most} training rows would come of --num-examples "
                f"{self.cfg.num_examples} and {pairs} weak pairs, fewer than one --batch-size "
                f"{self.cfg.batch_size} batch; raise --num-examples or lower --batch-size"
            )
        return self._child("generate", generate_command(self.cfg, self.paths))

    def _judge(self):
        return self._child("judge", judge_command(self.cfg, self.paths))

    def _split(self):
        return 0, split_stage(self.cfg, self.paths)

    def _mine(self):
        return self._child("mine", mine_command(self.cfg, self.paths))

    def _train(self):
        rows = json.loads((self.paths.mined / "stats.json").read_text())["rows"]
        if rows < self.cfg.batch_size:
            before = self.state["stages"]["split"]["result"]["train_rows"]
            raise StageError(
                f"train: {rows} of {before} training rows passed the round-trip filter (--consistency-k "
                f"{self.cfg.consistency_k}), fewer than one --batch-size {self.cfg.batch_size} batch; "
                "raise --consistency-k (0 turns it off) or lower --batch-size"
            )
        return self._child("train", train_command(self.cfg, self.paths, rows))

    def _model_of(self, alpha: float) -> str:
        if alpha == 0:
            return self.cfg.base_model
        return str(self.paths.tuned if alpha == 1 else self.paths.merged_model(alpha))

    def _evaluate(self):
        """Every alpha on the held-out queries; merged models are made as they are needed."""
        results = self.paths.results
        results.mkdir(parents=True, exist_ok=True)
        for alpha in self.cfg.alphas:
            out = results / f"{alpha_name(alpha)}.json"
            if out.exists():
                continue
            if 0 < alpha < 1:
                status = self._merged(alpha)
                if status != 0:
                    return status, {}
            model = self._model_of(alpha)
            status, _ = self._child(
                f"evaluate-{alpha_name(alpha)}", eval_command(self.cfg, self.paths, model, out)
            )
            if status != 0:
                return status, {}
        return 0, {}

    def _choice(self):
        results = {a: self.paths.results / f"{alpha_name(a)}.json" for a in self.cfg.alphas}
        return choose_alpha(results, self.cfg.seed)

    def _merged(self, alpha: float) -> int:
        """RUN/merged/alpha-A (train.interpolate), unless a finished one is there; 0 or the child's status."""
        model = self.paths.merged_model(alpha)
        if (model / "synthembed.json").exists():
            return 0
        shutil.rmtree(model, ignore_errors=True)  # a half-written one from a killed run
        status, _ = self._child("merge", interpolate_command(self.cfg, self.paths, alpha, model))
        return status

    def _hand_back(self, alpha: float) -> int:
        """RUN/model := the model of `alpha` (for 0, the base's weights in the tuned model's format)."""
        model = self.paths.model
        shutil.rmtree(model, ignore_errors=True)
        if alpha == 1:
            shutil.copytree(self.paths.tuned, model)
            return 0
        status = self._merged(alpha)
        if status == 0:
            shutil.copytree(self.paths.merged_model(alpha), model)
        return status

    def _merge(self):
        choice = self._choice()
        status = self._hand_back(choice.alpha)
        return status, {"alpha": choice.alpha, "table": choice.table}

    def _check(self):
        cfg, results = self.cfg, self.paths.results
        choice = self._choice()
        eval_data = None
        if cfg.eval_data is not None:
            eval_data = (results / "eval-data-base.json", results / "eval-data-result.json")
            todo = [(eval_data[0], cfg.base_model)]
            if choice.alpha != 0:  # else the result is the base
                todo.append((eval_data[1], str(self.paths.model)))
            for out, model in todo:
                if out.exists():
                    continue
                cmd = eval_command(cfg, self.paths, model, out, cfg.eval_data, cfg.eval_split)
                status, _ = self._child(f"check-{out.stem}", cmd)
                if status != 0:
                    return status, {}
        guard = None
        if cfg.guard_data is not None:
            scores = {}
            for which, model in (("base", cfg.base_model), ("result", str(self.paths.model))):
                out = results / f"guard-{which}.json"
                if not out.exists():
                    status, _ = self._child(f"check-guard-{which}", guard_command(cfg, model, out))
                    if status != 0:
                        return status, {}
                scores[which] = guard_score(json.loads(out.read_text()))
            guard = {
                "metric": scores["base"][0],
                "base": scores["base"][1],
                "result": scores["result"][1],
                "margin": cfg.guard_margin,
            }
        verdict = judge(choice, eval_data, guard)
        if verdict.handed_back == "base" and choice.alpha != 0:
            status = self._hand_back(0.0)
            if status != 0:
                return status, {}
        return 0, {"verdict": verdict.to_dict(), "guard": guard}

    def _report(self):
        report = write_report(self.paths.root, self.state)
        return 0, {"verdict": report["verdict"]["line"]}


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
        print(f"{PROG}: report {cfg.out / 'report.md'}; model {cfg.out / 'model'}", file=sys.stderr)
        print(f"{PROG}: {report['verdict']['line']}", file=sys.stderr)
    return status


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = parse(AdaptConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
