"""A real OpenAI-compatible server that nobody here wrote: llama-cpp-python serving SmolLM2-135M.

Opt-in (`pytest -m slow tests/synth/test_real_server.py`): the first run builds the server with
`scripts/llama_server.sh` (about 10 minutes on 2 cores; reused afterwards from .cache/), and the
generation run takes a few minutes on a CPU. It checks what the fake server cannot prove: against a
weak real model, every request the server logged is a counted call, the accounting balances, the
progress bar moves while answers arrive, and the summary is clean.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from .conftest import REPO, generate_cmd, run_cli
from .test_accounting import assert_balanced
from .test_progress import bar_states

pytestmark = pytest.mark.slow
SCRIPT = REPO / "scripts" / "llama_server.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    build = subprocess.run(
        [str(SCRIPT), "--engine", "llama-cpp-python", "--build-only"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(SCRIPT), "--engine", "llama-cpp-python", str(port)], stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(1)
    yield url, log
    proc.terminate()
    proc.wait(timeout=30)


def test_a_bounded_run_against_llama_cpp_balances_and_shows_progress(llama_server, tmp_path):
    url, log = llama_server
    out = tmp_path / "run"
    cmd = generate_cmd(
        out,
        url,
        "--model",
        "smollm2-135m",
        "--languages",
        "en",
        "--num-examples",
        "10",
        "--max-calls",
        "30",
        "--concurrency",
        "2",
        "--progress",
    )
    cmd[cmd.index("--timeout") + 1] = "600"  # a CPU answers one call at a time, each in seconds
    result = run_cli(cmd, env_key=None, timeout=3600)
    assert result.returncode in (0, 3), result.stderr[-3000:]  # done, or stopped by --max-calls
    assert "Traceback" not in result.stderr and "does not balance" not in result.stderr
    stats = assert_balanced(out)
    # Every chat request the server logged is one the run counted (resends after a refusal included).
    served = len(re.findall(r'"POST /v1/chat/completions HTTP/1\.1"', log.read_text()))
    assert served == stats["calls"]["http_requests_this_run"] >= stats["calls"]["made_this_run"] > 0
    # llama-cpp-python refuses json_schema; --guided auto steps down once and goes on.
    guided = stats["calls"]["guided"]
    assert guided["mode"] in ("json_object_schema", "json_object", "off") and guided["fallbacks"]
    states = bar_states(result.stderr)
    assert len({s[1:] for s in states}) >= 3, result.stderr[-3000:]  # calls and rejects moved as they came
    a = stats["accounting"]
    assert f"examples: {a['examples']['calls']} calls = {a['examples']['kept']} kept" in result.stderr
    assert os.path.getsize(out / "stats.json") > 0
    print(result.stderr[-2500:])
