"""The fake LLM server as the benches start it: `python -m synth.testing.fake_openai`, a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

KEY = "sk-test"


def _ask(url: str, prompt: str) -> dict:
    body = json.dumps({"model": "fake", "messages": [{"role": "user", "content": prompt}]}).encode()
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_module_serves_answers_and_reports_the_prompt_cache():
    """A definition below the `__main__` guard once broke every answer of the started process (the
    throughput benches' server), while in-process tests passed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "synth.testing.fake_openai", "--api-key", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["READY"], ready
        shared = "Write one search query for the passage below as JSON. " * 20
        first = _ask(ready[1], shared + "The passage: apples grow on trees.")
        second = _ask(ready[1], shared + "The passage: bananas grow on plants.")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert first["choices"][0]["message"]["content"]
    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] >= len(shared) // 4 - 1
