"""Publishing a dataset dir to a Hub stand-in on 127.0.0.1 (synth.testing.fake_hub).

The stand-in speaks the real wire protocol of huggingface_hub's create_repo + upload_folder (repo
create, preupload, LFS batch + PUT, NDJSON commit). hf_xet's storage protocol is not stood in, so
these tests run huggingface_hub's LFS upload path (HF_HUB_DISABLE_XET); see fake_hub's docstring.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import huggingface_hub.constants
import pytest

from synth.card.publish import PublishError, cli, publish
from synth.generate import main
from synth.run.config import GenerateConfig
from synth.testing.fake_hub import FakeHub
from synth.testing.fake_openai import FakeOpenAI

from .conftest import API_KEY, REPO

TOKEN = "hf_PubLishTestToken0123456789"
DATASET_FILES = {"README.md", "stats.json", "data/train-00000-of-00001.parquet",
                 "plots/rows_per_language.png", "plots/length_per_task_type.png"}  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("publish") / "run"
    with pytest.MonkeyPatch.context() as mp, FakeOpenAI(api_key=API_KEY) as server:
        mp.setenv("OPENAI_API_KEY", API_KEY)
        cfg = GenerateConfig(
            out=out, num_examples=8, languages="en,de", progress=False, timeout=5.0, base_url=server.url
        )
        assert main(cfg) == 0
    return out


@pytest.fixture
def run(generated, tmp_path) -> Path:
    """A private copy with the clutter publishing must leave behind: plans, temporaries, the journal."""
    out = tmp_path / "run"
    shutil.copytree(generated, out)
    (out / ".synth" / "plan").mkdir()
    (out / ".synth" / "plan" / "plan.json").write_text("{}")
    (out / "data" / ".train-00000-of-00001.parquet.tmp").write_bytes(b"half a file")
    assert (out / ".synth" / "journal.jsonl").is_file() and (out / ".synth" / "rejects.jsonl").is_file()
    return out


@pytest.fixture(autouse=True)
def hub_env(monkeypatch, tmp_path):
    """No saved login, no real endpoint, LFS instead of Xet uploads (see module docstring)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)


@pytest.fixture
def hub():
    with FakeHub(token=TOKEN) as server:
        yield server


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file()
    }


def test_uploads_exactly_the_dataset_files(run, hub):
    url = publish(run, "org/synth-data", private=True, token=TOKEN, endpoint=hub.url)
    assert url == f"{hub.url}/datasets/org/synth-data"
    arrived = hub.files("dataset", "org/synth-data")
    assert set(arrived) == DATASET_FILES  # no .synth/ (journal, rejects, plan), no temporaries
    assert all(arrived[path] == (run / path).read_bytes() for path in arrived)
    assert hub.repos[("dataset", "org/synth-data")].private
    assert any(path.startswith("/lfs-store/") for _, path, _ in hub.requests)  # binaries went through LFS


@pytest.mark.parametrize("fail_mode", ["500", "drop"])
def test_crashed_commit_leaves_local_files_intact_and_a_rerun_succeeds(run, fail_mode):
    with FakeHub(token=TOKEN, fail_commits=1, fail_mode=fail_mode) as hub:
        before = snapshot(run)
        with pytest.raises(PublishError, match="run the same command again") as err:
            publish(run, "org/crash", token=TOKEN, endpoint=hub.url)
        assert TOKEN not in str(err.value) and "\n" not in str(err.value)
        assert hub.commits_failed == 1 and hub.files("dataset", "org/crash") == {}
        assert snapshot(run) == before  # byte-identical, not even touched
        assert publish(run, "org/crash", token=TOKEN, endpoint=hub.url) == f"{hub.url}/datasets/org/crash"
        assert set(hub.files("dataset", "org/crash")) == DATASET_FILES
        assert snapshot(run) == before


def test_publishing_again_is_a_no_op_commit(run, hub):
    publish(run, "org/again", token=TOKEN, endpoint=hub.url)
    publish(run, "org/again", token=TOKEN, endpoint=hub.url)
    assert len(hub.repos[("dataset", "org/again")].commits) == 1


def test_republishing_removes_remote_data_files_gone_locally(run, hub):
    stale = run / "data" / "train-00001-of-00002.parquet"
    shutil.copy(run / "data" / "train-00000-of-00001.parquet", stale)
    (run / "NOTES.md").write_text("kept by the publisher")
    publish(run, "org/prune", token=TOKEN, endpoint=hub.url)
    assert "data/train-00001-of-00002.parquet" in hub.files("dataset", "org/prune")
    stale.unlink()
    (run / "NOTES.md").unlink()
    publish(run, "org/prune", token=TOKEN, endpoint=hub.url)
    assert set(hub.files("dataset", "org/prune")) == DATASET_FILES | {
        "NOTES.md"
    }  # only data/ and plots/ pruned


def test_card_is_rerendered_when_stats_is_newer(run, hub):
    readme = run / "README.md"
    readme.write_text(readme.read_text().replace("## Rows per language", "## STALE"))
    stats = run / "stats.json"
    os.utime(stats, ns=(readme.stat().st_mtime_ns + 10**9,) * 2)
    publish(run, "org/fresh", token=TOKEN, endpoint=hub.url)
    card = hub.files("dataset", "org/fresh")["README.md"].decode()
    assert "## STALE" not in card and "## Rows per language" in card


def test_revision_commits_to_a_branch(run, hub):
    url = publish(run, "org/branchy", token=TOKEN, endpoint=hub.url, revision="v1")
    assert url == f"{hub.url}/datasets/org/branchy/tree/v1"
    assert set(hub.files("dataset", "org/branchy", "v1")) == DATASET_FILES
    assert hub.files("dataset", "org/branchy", "main") == {}


def test_token_comes_from_hf_token_env(run, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    publish(run, "org/env-token", token=None, endpoint=hub.url)
    assert f"Bearer {TOKEN}" in hub.authorizations


def test_rejected_token_and_unreachable_hub_are_one_line_errors(run, hub):
    wrong = "hf_WrongToken9876543210zyx"
    with pytest.raises(PublishError, match="401") as err:
        publish(run, "org/x", token=wrong, endpoint=hub.url)
    assert wrong not in str(err.value)
    with pytest.raises(PublishError, match="network error talking to the Hub") as err:
        publish(run, "org/x", token=TOKEN, endpoint="http://127.0.0.1:9")
    assert TOKEN not in str(err.value)


def test_cli_errors_are_one_line_without_token(run, tmp_path, capsys):
    cases = [
        ([str(run), "--repo", "org/x"], "no Hugging Face token"),
        ([str(run), "--repo", "not a repo!"], "not a valid repo id"),
        ([str(tmp_path / "nowhere"), "--repo", "org/x"], "not a directory"),
        ([str(run / "data"), "--repo", "org/x"], "no stats.json"),
    ]
    for argv, message in cases:
        assert cli(argv) == 1
        captured = capsys.readouterr()
        assert message in captured.err and captured.err.count("\n") == 1 and not captured.out


def test_cli_prints_the_url_and_never_the_token(run, hub, tmp_path):
    import subprocess

    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    cmd = [sys.executable, "-m", "synth.publish", str(run), "--repo", "org/cli", "--private"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"{hub.url}/datasets/org/cli"
    assert TOKEN not in result.stdout + result.stderr
    assert set(hub.files("dataset", "org/cli")) == DATASET_FILES

    result = subprocess.run(
        cmd,
        env={**env, "HF_TOKEN": "hf_RejectedToken0123456789"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr and "401" in result.stderr
    assert "hf_RejectedToken0123456789" not in result.stderr + result.stdout
