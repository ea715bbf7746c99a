"""The command line: help text, and bad input reported as one line with a non-zero exit, before any
model is loaded where possible."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.tiny_models import build_mistral, build_tokenizer
from tests.train.conftest import cli_args, make_rows, small_config, write_dataset_dir
from train.config import TrainConfig, build_parser, parse_args
from train.errors import ConfigError
from train.lora import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if anything tries to load model weights."""

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the input was checked")

    # Imported first, so its own `load_backbone` binding is patched (and later restored) here, not
    # captured as `boom` for good by an import that happens inside the patched test.
    import train.export  # noqa: F401

    monkeypatch.setattr("train.export.load_backbone", boom)
    monkeypatch.setattr("train.backbone.load_backbone", boom)
    monkeypatch.setattr("transformers.AutoModel.from_pretrained", boom)


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli(argv)
    err = capsys.readouterr().err
    return code, err


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_help_lists_every_flag_scripts_rely_on_and_warns_about_accumulation():
    text = build_parser().format_help()
    for flag in "--model --data --output --epochs --max-steps --batch-size --lr --warmup-steps --max-length --temperature --pooling --lora-r --lora-alpha --save-steps --resume --seed --grad-cache-chunk --deepspeed --load-in-4bit --rope-theta --push-to-hub".split():
        assert flag in text, flag
    assert "accumulation" in text and "not add in-batch negatives" in " ".join(text.split())
    assert all(a.help for a in build_parser()._actions)


def test_defaults_are_the_papers():
    cfg = parse_args(["--data", "d", "--output", "o"])
    assert (cfg.lr, cfg.warmup_steps, cfg.epochs, cfg.temperature, cfg.batch_size, cfg.max_length) == (
        1e-4,
        100,
        1.0,
        0.02,
        2048,
        512,
    )
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.pooling, cfg.model) == (
        16,
        32,
        0.1,
        "last",
        "mistralai/Mistral-7B-v0.1",
    )


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"pooling": "cls"}, "--pooling 'cls' is not one of last, mean"),
        ({"temperature": 0.0}, "--temperature must be > 0"),
        (
            {"grad_cache_chunk": 4, "deepspeed": "z.json"},
            "--grad-cache-chunk cannot be combined with --deepspeed",
        ),
        ({"load_in_4bit": True, "deepspeed": "z.json"}, "--load-in-4bit cannot be combined with --deepspeed"),
        ({"max_length": 1}, "--max-length must be >= 2"),
        ({"query_format": "e5"}, "--query-format 'e5' is not one of instruct, plain"),
        ({"negatives_per_query": -1}, "--negatives-per-query must be >= 0, got -1"),
    ],
)
def test_cross_field_checks(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(data=["d"], output="o", **kw)


def test_missing_data_dir(capsys, tmp_path, model_dir, no_model_load):
    code, err = run_cli(
        capsys,
        ["--model", str(model_dir), "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "o")],
    )
    assert code == 2
    assert "missing: no such file or directory" in error_line(err)


def test_rows_missing_fields(capsys, tmp_path, model_dir, no_model_load):
    (tmp_path / "ds" / "data").mkdir(parents=True)
    (tmp_path / "ds" / "data" / "a.jsonl").write_text(json.dumps({"instruction": "i", "query": "q"}) + "\n")
    code, err = run_cli(
        capsys, ["--model", str(model_dir), "--data", str(tmp_path / "ds"), "--output", str(tmp_path / "o")]
    )
    assert code == 2
    assert "a.jsonl row 1: field 'positive' must be a non-empty string (missing)" in error_line(err)


def test_tokenizer_without_eos(capsys, tmp_path, dataset_dir, no_model_load):
    model = tmp_path / "noeos"
    build_tokenizer(eos=False).save_pretrained(model)
    build_mistral().config.save_pretrained(model)  # a model dir (config.json) whose tokenizer lacks EOS
    code, err = run_cli(
        capsys, ["--model", str(model), "--data", str(dataset_dir), "--output", str(tmp_path / "o")]
    )
    assert code == 2
    assert "has no EOS token" in error_line(err) and str(model) in error_line(err)


def test_load_in_4bit_without_gpu_or_bitsandbytes(
    capsys, tmp_path, dataset_dir, model_dir, no_model_load, monkeypatch
):
    argv = [
        "--model",
        str(model_dir),
        "--data",
        str(dataset_dir),
        "--output",
        str(tmp_path / "o"),
        "--load-in-4bit",
    ]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_cli(capsys, argv)
    assert code == 2 and "--load-in-4bit needs a CUDA GPU" in error_line(err)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    code, err = run_cli(capsys, argv)
    assert code == 2 and "--load-in-4bit needs bitsandbytes: pip install" in error_line(err)


@pytest.mark.parametrize(
    "content, message",
    [(None, "cannot read"), ("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_unreadable_deepspeed_config(
    capsys, tmp_path, dataset_dir, model_dir, no_model_load, content, message
):
    path = tmp_path / "ds.json"
    if content is not None:
        path.write_text(content)
    argv = [
        "--model",
        str(model_dir),
        "--data",
        str(dataset_dir),
        "--output",
        str(tmp_path / "o"),
        "--deepspeed",
        str(path),
    ]
    code, err = run_cli(capsys, argv)
    assert code == 2 and f"--deepspeed {path}: {message}" in error_line(err)


def test_batch_larger_than_data(capsys, tmp_path, dataset_dir, model_dir, no_model_load):
    argv = [
        "--model",
        str(model_dir),
        "--data",
        str(dataset_dir),
        "--output",
        str(tmp_path / "o"),
        "--batch-size",
        "1000",
    ]
    code, err = run_cli(capsys, argv)
    line = error_line(err)
    assert code == 2 and "--batch-size 1000 needs 1000 rows per batch, but --data has 64:" in line
    assert line.endswith("use --batch-size 64 or less")


def test_four_rows_and_the_default_batch_fail_even_with_max_steps(capsys, tmp_path, model_dir, no_model_load):
    """Issue 8.11: 4 rows, batch 2048 and --max-steps 10 logged "10 steps", trained 0 and exported the base."""
    data = write_dataset_dir(tmp_path / "ds", make_rows(4))
    out = tmp_path / "o"
    argv = ["--model", str(model_dir), "--data", str(data), "--output", str(out), "--max-steps", "10"]
    code, err = run_cli(capsys, argv)
    assert code == 2
    assert error_line(err) == (
        "error: --batch-size 2048 needs 2048 rows per batch, but --data has 4: an incomplete batch is dropped, "
        "so no step would run; use --batch-size 4 or less"
    )
    assert not out.exists() or not any(out.iterdir())  # nothing exported


def test_one_batch_counts_rows_with_distinct_texts_and_processes():
    """Rows that share a positive cannot share a batch; under DDP the suggestion is a multiple of the processes."""
    from train.data import Example
    from train.sampler import NoDuplicateBatchSampler
    from train.trainer import plan_steps

    rows = [
        Example("i", f"q{i}", "same" if i < 4 else f"p{i}", None) for i in range(9)
    ]  # 6 distinct positives
    sampler = NoDuplicateBatchSampler(rows, 8, seed=0)
    with pytest.raises(ConfigError) as e:
        plan_steps(sampler, epochs=1.0, max_steps=5, world_size=4)
    assert str(e.value) == (
        "--batch-size 8 needs 8 rows per batch, but --data has 9 (only 6 of them fit one batch without repeated "
        "texts): an incomplete batch is dropped, so no step would run; use --batch-size 4 or less, a multiple of "
        "the 4 processes"
    )
    assert plan_steps(NoDuplicateBatchSampler(rows, 6, seed=0), epochs=1.0, max_steps=-1) == 1
    assert plan_steps(NoDuplicateBatchSampler(rows, 6, seed=0), epochs=1.0, max_steps=7) == 7
    with pytest.raises(ConfigError, match="--epochs 0.5 of 1 batches per epoch is 0 steps"):
        plan_steps(NoDuplicateBatchSampler(rows, 6, seed=0), epochs=0.5, max_steps=-1)


def test_warmup_longer_than_the_run_warns(caplog, tmp_path, dataset_dir, model_dir):
    from train.lora import main
    from train.trainer import warmup_warning

    assert warmup_warning(10, 11, 1e-4) is None
    # lr at update n is lr * (n - 1) / warmup: 2 steps under a 100-step warm-up peak at 1e-6.
    expected = (
        "--warmup-steps 100 is not below the run's 2 steps: the learning rate never reaches --lr 0.0001 "
        "(it peaks at 1e-06) and never decays"
    )
    assert warmup_warning(100, 2, 1e-4) == expected
    with caplog.at_level("WARNING", logger="train.lora"):
        summary = main(
            small_config(model_dir, dataset_dir, tmp_path / "o", warmup_steps=100, max_steps=2, lr=1e-4)
        )
    assert summary.steps == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [expected]
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "o" / "metrics.jsonl").read_text().splitlines()]
    assert max(lrs) < 1e-4  # what the warning says: --lr is never reached


def test_nan_loss_stops_with_a_message_and_saves_nothing(
    capsys, tmp_path, dataset_dir, model_dir, monkeypatch
):
    import train.losses

    real = train.losses.LOSSES["info_nce"]  # the trainer looks its loss up here, when it is built
    monkeypatch.setitem(train.losses.LOSSES, "info_nce", lambda *a, **k: real(*a, **k) * float("nan"))
    out = tmp_path / "o"
    code, err = run_cli(capsys, cli_args(small_config(model_dir, dataset_dir, out, save_steps=1)))
    assert code == 1
    assert "loss is nan at step 1; stopping before the update" in error_line(err)
    assert not (out / "modules.json").exists() and not (out / "checkpoints").exists()


def test_module_entry_point_prints_one_line_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.lora",
            "--data",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "o"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --data ")


def test_output_with_checkpoints_needs_resume(capsys, tmp_path, dataset_dir, model_dir, no_model_load):
    (tmp_path / "o" / "checkpoints" / "step-0000010").mkdir(parents=True)
    (tmp_path / "o" / "checkpoints" / "step-0000010" / "DONE").write_text("10")
    code, err = run_cli(
        capsys, ["--model", str(model_dir), "--data", str(dataset_dir), "--output", str(tmp_path / "o")]
    )
    assert code == 2 and "already holds checkpoints (newest step-0000010); pass --resume" in error_line(err)


def test_every_config_field_round_trips_through_the_command_line(tmp_path):
    cfg = small_config(
        Path("m"),
        Path("d"),
        tmp_path,
        gradient_checkpointing=False,
        normalize=False,
        rope_theta=1e5,
        resume=True,
        pooling="mean",
        grad_cache_chunk=4,
        push_to_hub="me/x",
        lora_target="q_proj,v_proj",
        epochs=0.5,
        query_format="plain",
        negatives_per_query=3,
    )
    assert parse_args(cli_args(cfg)) == cfg


def test_tokenizer_that_cannot_export_fails_before_training(
    capsys, tmp_path, dataset_dir, model_dir, no_model_load, monkeypatch
):
    """If the saved tokenizer would not reproduce training inputs (EOS lost), stop before the model loads."""
    monkeypatch.setattr("train.export.add_eos_post_processor", lambda tok: None)
    code, err = run_cli(
        capsys, ["--model", str(model_dir), "--data", str(dataset_dir), "--output", str(tmp_path / "o")]
    )
    assert code == 2
    line = error_line(err)
    assert f"--model {model_dir}" in line and "but training used" in line and "refusing to export" in line


@pytest.mark.parametrize("launcher_flag", [["--local_rank=3"], ["--local-rank=3"], ["--local_rank", "3"]])
def test_the_local_rank_flag_launchers_append_is_dropped(launcher_flag):
    """The deepspeed launcher appends --local_rank=N (torch.distributed.launch --local-rank=N); the rank
    is read from LOCAL_RANK, and the flag must not make every process exit with 'unrecognized arguments'."""
    flags = ["--data", "d", "--output", "o", "--seed", "3"]
    assert parse_args([*flags[:2], *launcher_flag, *flags[2:]]) == parse_args(flags)


@pytest.mark.parametrize(
    "flag,make,line",
    [
        (  # 7: was "Couldn't instantiate the backend tokenizer ... install sentencepiece"
            "--model",
            lambda p: p.mkdir(),
            "error: --model {p}: no synthembed.json (a synthembed model), modules.json (a sentence-transformers "
            "model) or config.json (a Hugging Face model) found",
        ),
        ("--model", lambda p: p.write_text("x"), "error: --model {p}: not a directory"),
        # 8: was a FileExistsError from train/metrics.py, after the model had loaded
        ("--output", lambda p: p.write_text("mine"), "error: --output {p}: a file, not a directory"),
        (
            "--output",
            lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")),
            "error: --output {p}: not empty (notes.txt) and not a train.lora model dir; choose another --output",
        ),
    ],
    ids=["model-empty-dir", "model-file", "output-file", "output-foreign-dir"],
)
def test_model_and_output_are_checked_before_the_model_loads(
    capsys, tmp_path, dataset_dir, model_dir, no_model_load, flag, make, line
):
    path = tmp_path / "given"
    make(path)
    paths = {"--model": str(model_dir), "--output": str(tmp_path / "o"), flag: str(path)}
    argv = ["--data", str(dataset_dir), *(x for kv in paths.items() for x in kv)]
    code, err = run_cli(capsys, argv)
    assert code == 2 and error_line(err) == line.format(p=path)
    if path.is_file():
        assert path.read_text() in ("x", "mine")


def test_read_only_output_before_the_model_loads(
    capsys, dataset_dir, model_dir, no_model_load, read_only_dir
):
    """8: was OSError [Errno 30] from train/metrics.py."""
    for output in (read_only_dir, read_only_dir / "model"):
        code, err = run_cli(
            capsys, ["--model", str(model_dir), "--data", str(dataset_dir), "--output", str(output)]
        )
        assert code == 2 and error_line(err).startswith(
            f"error: --output {output}: cannot write in {read_only_dir} ("
        )


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None or torch.cuda.is_available(),
    reason="DeepSpeed's accelerator guess warns only where it is installed and finds no GPU",
)
def test_a_good_run_does_not_show_deepspeeds_accelerator_guess(tmp_path, dataset_dir, model_dir):
    """accelerate imports DeepSpeed in save_pretrained; its "Setting accelerator to CPU. If you have
    GPU or other accelerator, we were unable to detect it." is not ours to show (a fresh process:
    DeepSpeed says it once per process)."""
    cmd = [sys.executable, "-m", "train.lora", "--model", str(model_dir), "--data", str(dataset_dir)]
    cmd += ["--output", str(tmp_path / "o"), "--batch-size", "8", "--max-steps", "1", "--max-length", "16"]
    cmd += ["--warmup-steps", "0"]
    env = {k: v for k, v in os.environ.items() if k != "DS_ACCELERATOR"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Setting accelerator" not in proc.stdout + proc.stderr
    assert (tmp_path / "o" / "synthembed.json").is_file()
