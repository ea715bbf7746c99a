"""synth.adapt at its edges: --out and --base-model checked before any stage pays for anything, and
only real progress bars from a child stage beside the adapt bar (issue 25)."""

from __future__ import annotations

import json
import sys

import pytest

from synth.adapt.__main__ import cli
from synth.adapt.child import is_progress, run_child

from .grounded_corpus import write_corpus


def _refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        cli(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _generate_dataset(root):
    (root / ".synth").mkdir(parents=True)
    (root / ".synth" / "journal.jsonl").write_text("{}\n")
    (root / "stats.json").write_text(json.dumps({"rows": 5, "accounting": {}}))
    return root


@pytest.mark.parametrize(
    "what,make,line",
    [
        (  # 10: was NotADirectoryError, then a second traceback from _save
            "out",
            lambda p: p.write_text("a file"),
            "--out {p}: a file, not a directory",
        ),
        (  # was accepted, and LLM calls were spent before train's batch-size check failed
            "out",
            _generate_dataset,
            "--out {p}: holds a synth.generate run, not a synth.adapt run; choose another --out",
        ),
        (  # was the generate stage's child saying "--model: cannot load ..."
            "base",
            lambda p: p.mkdir(),
            "--base-model {p}: no synthembed.json (a synthembed model), modules.json (a sentence-transformers "
            "model) or config.json (a Hugging Face model) found",
        ),
    ],
    ids=["out-file", "out-generate-dataset", "base-model-empty-dir"],
)
def test_out_and_base_model_are_checked_before_any_stage(fake, tmp_path, capsys, what, make, line):
    server = fake()
    given = tmp_path / "given"
    make(given)
    paths = {"out": tmp_path / "run", "base": tmp_path / "base"}
    paths[what] = given
    if what != "base":
        paths["base"].mkdir()
        (paths["base"] / "config.json").write_text("{}")
    docs = write_corpus(tmp_path / "docs", topics=3)
    argv = ["--corpus", str(docs), "--base-model", str(paths["base"]), "--out", str(paths["out"])]
    argv += ["--base-url", server.url, "--no-progress"]
    assert _refused(capsys, argv) == "synth.adapt: error: " + line.format(p=given)
    assert server.requests == [] and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "line,bar",
    [
        ("train:  40%|####      | 4/10 [00:03<00:05,  1.2step/s, loss=1.8343]", True),
        (
            "generate:  12%|#2        | 5/40 [00:31<03:40, 0.16row/s, step=examples brainstorm 4 (1 rej)]",
            True,
        ),
        ("mine: 120batch [00:04, 27.1batch/s]", True),
        ("2026-12-03 10:01:02,345 INFO train.lora: 16 rows, 4 steps of 4 (4 per process x 1)", False),
        (
            "[2026-12-07 04:20:42,180] [WARNING] [real_accelerator.py:213:get_accelerator] Setting accelerator "
            "to CPU. If you have GPU or other accelerator, we were unable to detect it.",
            False,
        ),
        ("examples: 184 calls = 35 kept + 2 held + 0 duplicates + 147 rejected + 0 errors", False),
        ("Token indices sequence length is longer than the specified maximum sequence length", False),
    ],
)
def test_what_counts_as_a_progress_line(line, bar):
    assert is_progress(line) is bar


def test_a_child_shows_only_its_bars_and_logs_everything(tmp_path):
    """The adapt bar's postfix had every child log line squeezed into it; they belong in the log."""
    script = (
        "import sys, time\n"
        "print('2026-12-03 10:01:02,345 INFO train.lora: 16 rows', file=sys.stderr, flush=True)\n"
        "for i in range(3):\n"
        "    sys.stderr.write(f'\\rtrain:  {i}/2 [00:0{i}<00:01,  1.2step/s]'); sys.stderr.flush()\n"
        "print('\\ntrained 2 steps in 0.1s', file=sys.stderr)\n"
    )
    shown: list[str] = []
    log = tmp_path / "logs" / "train.log"
    assert run_child([sys.executable, "-c", script], log, shown.append) == 0
    assert shown == [f"train:  {i}/2 [00:0{i}<00:01,  1.2step/s]" for i in range(3)]
    text = log.read_text()
    assert "INFO train.lora: 16 rows" in text and "trained 2 steps" in text


def test_too_few_rows_for_one_batch_is_refused_before_any_llm_call(fake, tmp_path, capsys):
    """Was: LLM calls spent, then train's batch-size check failed."""
    from tests.tiny_models import write_st_dir

    server = fake()
    docs = write_corpus(tmp_path / "docs", topics=3)
    argv = [
        "--corpus",
        str(docs),
        "--base-model",
        str(write_st_dir(tmp_path / "tiny")),
        "--out",
        str(tmp_path / "run"),
    ]
    argv += ["--base-url", server.url, "--no-progress", "--num-examples", "10", "--batch-size", "4096"]
    with pytest.raises(SystemExit) as exc:
        cli(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 1 and "fewer than one --batch-size 4096 batch" in err[-1], err
    assert err[-1].startswith("synth.adapt: error: generate: at most ")
    assert server.requests == []
