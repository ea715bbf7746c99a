"""synth.run.allocator: large freed buffers go back to the OS however many came before."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

PROBE = """
import sys
import numpy as np
from synth.run.allocator import return_large_frees_to_the_os
if sys.argv[1] == "set":
    assert return_large_frees_to_the_os()
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
base = rss()
for _ in range(3):  # a buffer freed, then one of the same size: glibc's own rule keeps the second
    buffer = np.ones(4 << 20, dtype=np.uint8)
    del buffer
pins = [bytes(100) for _ in range(10)]  # small allocations made after it
print(rss() - base)
"""


def kept_mib(mode: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout
    return float(out)


def test_a_freed_large_buffer_is_returned_only_with_the_fixed_threshold():
    assert kept_mib("default") >= 3.5  # the 4 MiB buffer stayed on the heap
    assert kept_mib("set") < 1.0


def test_a_threshold_the_user_exported_wins(monkeypatch):
    from synth.run.allocator import return_large_frees_to_the_os

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert return_large_frees_to_the_os() is False
