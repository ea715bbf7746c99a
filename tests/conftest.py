"""Fixtures every test package shares.

`read_only_dir`: a dir this process cannot write in, for tests of the output checks (`common.outdir`).

chmod 0o555 is what stops an ordinary user; root writes through it, so under root the check's own
probe (`common.outdir.write_blocked`) is told that the dir is on a read-only file system, as it
would be on one mounted read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import common.outdir


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = common.outdir.write_blocked
        monkeypatch.setattr(
            common.outdir,
            "write_blocked",
            lambda path: "read-only file system" if Path(path) == folder else real(path),
        )
    yield folder
    folder.chmod(0o755)
