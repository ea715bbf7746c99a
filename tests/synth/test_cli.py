"""User errors from the command line: one line naming what is wrong, non-zero exit, in seconds."""

from __future__ import annotations

import sys
import time

import pytest

from .conftest import generate_cmd, run_cli

GEN = [sys.executable, "-m", "synth.generate"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--concurrency", "lots"], "argument --concurrency: invalid int value: 'lots'"),
        (["--languages", "en,xx"], "--languages: unknown language code 'xx'"),
        (["--task-types", "poetry"], "--task-types: unknown task type 'poetry'"),
        (["--backend", "anthropic"], "--backend: 'anthropic' is not one of openai, openai-batch, vllm"),
        (["--languages", "en", "--task-types", "bitext"], "bitext needs at least two languages"),
        (["--num-examples", "0"], "--num-examples must be at least 1"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_flags(args, message, tmp_path):
    result = run_cli(GEN + ["--out", str(tmp_path / "o"), "--dry-run", *args])
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unreachable_server(tmp_path):
    start = time.monotonic()
    result = run_cli(generate_cmd(tmp_path / "o", "http://127.0.0.1:9/v1", "--num-examples", "5"))
    assert result.returncode == 1 and time.monotonic() - start < 20
    assert "error: cannot reach http://127.0.0.1:9/v1" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_api_key_is_one_line_and_never_printed(fake, tmp_path):
    server = fake()
    wrong = "sk-this-is-the-wrong-key-42424242"
    result = run_cli(generate_cmd(tmp_path / "o", server.url, "--num-examples", "5"), env_key=wrong)
    assert result.returncode == 1
    assert "rejected the API key (401 Unauthorized)" in result.stderr
    assert wrong not in result.stderr + result.stdout and "Traceback" not in result.stderr
    for path in (tmp_path / "o").rglob("*"):
        assert not path.is_file() or wrong.encode() not in path.read_bytes()


def test_the_api_backend_without_a_key(tmp_path):
    """Asked for by name (--backend openai), the API without a key is an error; with no --backend the
    embedded model serves instead (tests/synth/test_local_backend.py)."""
    result = run_cli(
        GEN + ["--backend", "openai", "--out", str(tmp_path / "o"), "--num-examples", "5", "--no-progress"],
        env_key=None,
    )
    assert result.returncode == 1 and "OPENAI_API_KEY is not set" in result.stderr


def test_vllm_backend_without_vllm_names_the_extra(tmp_path):
    result = run_cli(
        GEN + ["--backend", "vllm", "--model", "m", "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert result.returncode == 1
    assert "pip install 'synthembed[vllm]'" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_every_option_with_its_meaning():
    result = run_cli(GEN + ["--help"])
    assert result.returncode == 0
    for flag in (
        "--base-url",
        "--concurrency",
        "--rpm",
        "--tpm",
        "--max-cost",
        "--max-calls",
        "--max-reasks",
        "--dry-run",
        "--task-mix",
        "--tensor-parallel-size",
        "--prices",
    ):
        assert flag in result.stdout
