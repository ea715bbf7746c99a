"""Running one stage as a child process under the adapt pipeline's single progress display.

Stages that belong to later packages (train.lora, eval.retrieval) run as `python -m ...` children, so
synth never imports them, and every stage is the same command a user could run alone. A child's
output goes to its log file whole; the display shows its latest progress bar beside the stage bar
(log lines, warnings and summaries stay in the log).
A child dies with the pipeline (Linux), so a killed pipeline leaves no stage running on its own.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A tqdm bar's time field: "[00:31<00:40, 0.4row/s" with a total, "[00:31, 3.2it/s" without one.
_BAR_TIME = re.compile(r"\[\d+:\d{2}(?::\d{2})?(?:<|,|\])")


def is_progress(line: str) -> bool:
    """Whether a child's output line is a progress bar (what the adapt display shows beside its own),
    not a log line (which stays in the stage's log only).

        "train:  40%|####      | 4/10 [00:03<00:05,  1.2step/s, loss=1.83]"  -> True
        "2026-12-03 10:01:02,345 INFO train.lora: 16 rows, 4 steps of 4"   -> False
    """
    return _BAR_TIME.search(line) is not None


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def module_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run_child(cmd: list[str], log: Path, show=None, env: dict | None = None) -> int:
    """Run `cmd`, its stdout and stderr appended to `log`; `show(line)` gets each progress bar line
    as it comes (tqdm redraws with \\r; `is_progress`). Returns the exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        sink.write(f"$ {' '.join(cmd)}\n".encode())
        sink.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        pending = b""
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            sink.write(chunk)
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            for raw in lines:
                line = _ANSI.sub("", raw.decode("utf-8", "replace")).strip()
                if line and show is not None and is_progress(line):
                    show(line)
        return proc.wait()


def last_lines(log: Path, n: int = 5) -> str:
    """The end of a stage's log, for an error message: the lines that say why it failed."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]
    return " | ".join(lines[-n:])
