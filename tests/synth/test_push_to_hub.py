"""synth.generate --push-to-hub: the run is published once complete; bad repo/token fail before any call."""

from __future__ import annotations

import huggingface_hub.constants
import pytest

from synth.testing.fake_hub import FakeHub

from .conftest import run_generate

TOKEN = "hf_PushToHubTestToken012345"


@pytest.fixture(autouse=True)
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_generate_pushes_the_finished_run(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with FakeHub(token=TOKEN) as hub:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
        out = tmp_path / "run"
        assert run_generate(out, fake(), num_examples=6, push_to_hub="org/pushed", private=True) == 0
        files = hub.files("dataset", "org/pushed")
        assert "README.md" in files and not any(p.startswith(".synth") for p in files)
        assert hub.repos[("dataset", "org/pushed")].private
    err = capsys.readouterr().err
    assert f"published: {hub.url}/datasets/org/pushed" in err and TOKEN not in err


def test_bad_repo_or_missing_token_fails_before_any_call(fake, tmp_path, capsys):
    server = fake()
    cases = [
        ("not a repo!", "--push-to-hub: 'not a repo!' is not a valid repo id"),
        ("org/fine", "no Hugging Face token"),
    ]  # no HF_TOKEN, no saved login
    for repo, message in cases:
        with pytest.raises(SystemExit) as exit_:
            run_generate(tmp_path / "run", server, num_examples=4, push_to_hub=repo)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and err.count("\n") == 1
    assert server.requests == []  # nothing spent
