"""Fixtures for synth tests: a real OpenAI-compatible HTTP server on 127.0.0.1 and run helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.generate import main
from synth.run.config import GenerateConfig
from synth.testing.fake_openai import FakeOpenAI

API_KEY = "sk-test-SECRET-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake():
    """Factory: fake(latency=..., rate_429=..., ...) -> a started server, stopped after the test."""
    servers = []

    def start(**kwargs) -> FakeOpenAI:
        kwargs.setdefault("api_key", API_KEY)
        server = FakeOpenAI(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


def run_generate(out: Path, server: FakeOpenAI | None, **overrides) -> int:
    """The real entry point, in-process: GenerateConfig -> main."""
    defaults = dict(
        out=out,
        num_examples=30,
        languages="en,de,ko",
        progress=False,
        timeout=5.0,
        base_url=server.url if server else None,
    )
    defaults.update(overrides)
    return main(GenerateConfig(**defaults))


def generate_cmd(out: Path, server_url: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "synth.generate",
        "--base-url",
        server_url,
        "--out",
        str(out),
        "--no-progress",
        "--timeout",
        "5",
        *args,
    ]


def run_cli(
    args: list[str], env_key: str | None = API_KEY, timeout: float = 60
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if env_key is not None:
        env["OPENAI_API_KEY"] = env_key
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def read_stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def journal_keys(out: Path) -> list[str]:
    lines = (out / ".synth" / "journal.jsonl").read_text().splitlines()[1:]
    return [json.loads(line)["k"] for line in lines]
