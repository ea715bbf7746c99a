"""synth.generate's --out: never into a file, another command's dataset or a stranger's folder, and a
full disk as one line that a rerun continues from (issue 25, cases 1-3 and the --out lines)."""

from __future__ import annotations

import errno
import json

import pytest

import synth.dataset.row_parts
import synth.run.journal
from synth.dataset.dataset import read_rows

from .conftest import journal_keys, read_stats, run_generate


def snapshot(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refused(capsys, out, server, **flags) -> str:
    with pytest.raises(SystemExit) as exc:
        run_generate(out, server, num_examples=5, **flags)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def pairs_dataset(root):
    """What synth.pairs leaves: rows, stats.json with its section, its rejects and a card."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 509 rows PAR1")
    (root / "stats.json").write_text(json.dumps({"rows": 509, "pairs": {"format_version": 1}}))
    (root / ".synth").mkdir()
    (root / ".synth" / "pairs_rejects.jsonl").write_text("")
    (root / "README.md").write_text("# weak pairs card")
    return root


@pytest.mark.parametrize(
    "make,line",
    [
        (  # 1: another command's dataset
            pairs_dataset,
            "--out {out}: holds a synth.pairs dataset, not a synth.generate run; choose another --out",
        ),
        (  # 2: a user's folder
            lambda d: (d.mkdir(), (d / "README.md").write_text("# my project notes")),
            "--out {out}: not empty (README.md) and not a synth.generate run; choose another --out, or pass "
            "--allow-nonempty to write beside what is there",
        ),
        (  # the misleading "[Errno 20] Not a directory: 'OUT/.synth'"
            lambda d: d.write_text("a file"),
            "--out {out}: a file, not a directory",
        ),
    ],
    ids=["pairs-dataset", "user-folder", "file"],
)
def test_refused_before_any_call_and_nothing_changes(fake, tmp_path, capsys, make, line):
    server = fake()
    out = tmp_path / "out"
    make(out)
    before = snapshot(out) if out.is_dir() else out.read_bytes()
    assert refused(capsys, out, server) == f"synth.generate: error: {line.format(out=out)}"
    assert (snapshot(out) if out.is_dir() else out.read_bytes()) == before
    assert server.requests == []


def test_a_read_only_place(fake, read_only_dir, capsys):
    server = fake()
    line = refused(capsys, read_only_dir / "run", server)
    assert line.startswith(
        f"synth.generate: error: --out {read_only_dir / 'run'}: cannot write in {read_only_dir} ("
    )
    assert server.requests == []


def test_allow_nonempty_writes_beside_a_users_files_but_never_over_them(fake, tmp_path, capsys):
    server = fake()
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "README.md").write_text("# my project notes")
    line = refused(capsys, folder, server, allow_nonempty=True)
    assert (
        "holds README.md, which a synth.generate run writes; it never replaces a file it did not write"
        in line
    )
    assert (folder / "README.md").read_text() == "# my project notes"

    (folder / "README.md").unlink()
    (folder / "notes.txt").write_text("mine")
    assert run_generate(folder, server, num_examples=5, allow_nonempty=True) == 0
    assert (folder / "notes.txt").read_text() == "mine" and len(read_rows(folder)) == 5
    # now it is a run dir of its own: a rerun needs no flag, and a larger target extends it
    assert run_generate(folder, server, num_examples=8) == 0
    assert len(read_rows(folder)) == 8 and (folder / "notes.txt").read_text() == "mine"


def _fail_after(target, name: str, monkeypatch, writes: int) -> None:
    """Let `writes` calls of target.name through, then fail every later one as a full disk would."""
    real, calls = getattr(target, name), {"n": 0}

    def full(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, full)


@pytest.mark.parametrize(
    "target,name,writes",
    [
        (synth.run.journal.Journal, "_write_at", 0),  # the journal's header, before any call
        (synth.run.journal.Journal, "_write_at", 3),  # the journal, mid-run (header + 2 group commits)
        (synth.dataset.row_parts, "_write_part", 0),  # a part of the rows
    ],
    ids=["journal-header", "journal", "row-part"],
)
def test_a_full_disk_is_one_line_and_a_rerun_finishes(
    fake, tmp_path, capsys, monkeypatch, target, name, writes
):
    server = fake(latency=0.01)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        _fail_after(target, name, patch, writes)
        with pytest.raises(SystemExit) as exc:
            run_generate(out, server, num_examples=30, concurrency=4)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("synth.generate: error: the disk is full (No space left on device) writing ")
    assert str(out) in err[0] and err[0].endswith("rerun the same command: it continues where it stopped")

    journaled = len(journal_keys(out)) if name == "_write_at" and writes else None
    assert run_generate(out, server, num_examples=30, concurrency=4) == 0
    if journaled is not None:  # the stop came mid-run: some calls answered before it, the rest after
        assert 0 < journaled < len(journal_keys(out))
    rows = read_rows(out)
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30
    keys = journal_keys(out)
    assert len(keys) == len(set(keys)) and read_stats(out)["status"] == "complete"
