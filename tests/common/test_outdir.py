"""The one rule for output dirs: what each command may write into, and the line it refuses with."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from common.outdir import OutDirError, check_out, disk_error, writer_of


def layout(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text; a path ending in / is a dir) under root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def stats(*sections: str) -> str:
    return json.dumps({"rows": 1, **{s: {} for s in sections}})


# What each command leaves behind, as the commands write it (see the Writer marks).
DIRS = {
    "generate run": {".synth/journal.jsonl": "{}", "stats.json": stats("accounting"), "README.md": "card"},
    "generate dry run": {".synth/plan/plan.json": "{}"},
    "generate killed before its journal": {".synth/.neighbours.json.tmp": ""},
    "ray run": {".synth/pools/pools.json": "{}", "stats.json": stats("merge")},
    "pools step": {"pools.json": "{}", ".synth/journal.jsonl": "{}"},
    "pairs dataset": {"stats.json": stats("pairs"), ".synth/pairs_rejects.jsonl": "", "README.md": "card"},
    "mined pairs dataset": {"stats.json": stats("pairs", "mining"), "README.md": "card"},
    "teacher state": {".synth/teacher-abc/part-0.parquet": ""},
    "judged dataset": {"stats.json": stats("mining", "judge"), ".synth/judge_journal.jsonl": ""},
    "judge state": {".synth/judge_journal.jsonl": ""},
    "merged dataset": {"stats.json": stats("merge"), ".synth/rejects.jsonl": ""},
    "adapt run": {"adapt.json": "{}", "corpus/passages.jsonl": ""},
    "adapt killed in its first stage": {"corpus/": ""},
    "model dir": {"synthembed.json": "{}", "config.json": "{}", "README.md": "card"},
    "training killed early": {"runs/": ""},
    "checkpoints": {"checkpoints/step-0000002/DONE": ""},
    "user notes": {"README.md": "# my project notes"},
    "user data": {"notes.txt": "mine"},
}


@pytest.mark.parametrize(
    "kind,writer",
    [
        ("generate run", "synth.generate"),
        ("generate dry run", "synth.generate"),
        ("ray run", "synth.generate"),
        ("pools step", "synth.generate"),
        ("pairs dataset", "synth.pairs"),
        ("mined pairs dataset", "synth.mine"),  # the later stage's section wins
        ("teacher state", "synth.mine"),
        ("judged dataset", "synth.judge"),
        ("judge state", "synth.judge"),
        ("merged dataset", "synth.merge"),
        ("adapt run", "synth.adapt"),
        ("model dir", "train.lora"),
        ("checkpoints", "train.lora"),
        ("user notes", None),
    ],
)
def test_who_wrote_a_dir(tmp_path, kind, writer):
    assert writer_of(layout(tmp_path / "d", DIRS[kind])) == writer


@pytest.mark.parametrize(
    "command,kind",
    [
        ("synth.generate", "generate run"),  # resume
        ("synth.generate", "generate dry run"),
        ("synth.generate", "generate killed before its journal"),
        ("synth.generate", "ray run"),
        ("synth.pairs", "pairs dataset"),  # rebuild
        ("synth.mine", "mined pairs dataset"),
        ("synth.mine", "teacher state"),
        ("synth.judge", "judge state"),
        ("synth.merge", "merged dataset"),
        ("synth.adapt", "adapt run"),
        ("synth.adapt", "adapt killed in its first stage"),
        ("train.lora", "checkpoints"),
        ("train.lora", "training killed early"),
    ],
)
def test_a_command_may_write_its_own_dir_again(tmp_path, command, kind):
    check_out(layout(tmp_path / "d", DIRS[kind]), command)


@pytest.mark.parametrize("command", ["synth.generate", "synth.pairs", "train.lora", "synth.adapt"])
def test_absent_and_empty_dirs_are_fine(tmp_path, command):
    check_out(tmp_path / "new" / "deeper", command)
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", command)


@pytest.mark.parametrize(
    "command,kind,flag,allow,line",
    [
        (
            "synth.generate",
            "pairs dataset",
            "--out",
            False,
            "--out {d}: holds a synth.pairs dataset, not a synth.generate run; choose another --out",
        ),
        (
            "synth.generate",
            "user notes",
            "--out",
            False,
            "--out {d}: not empty (README.md) and not a synth.generate run; choose another --out, "
            "or pass --allow-nonempty to write beside what is there",
        ),
        (
            "synth.generate",
            "user notes",
            "--out",
            True,
            "--out {d}: holds README.md, which a synth.generate run writes; it never replaces a file it did "
            "not write: choose another --out",
        ),
        (
            "synth.adapt",
            "generate run",
            "--out",
            None,
            "--out {d}: holds a synth.generate run, not a synth.adapt run; choose another --out",
        ),
        (
            "synth.mine",
            "judged dataset",
            "--out",
            None,
            "--out {d}: holds a synth.judge dataset, not a synth.mine dataset; choose another --out",
        ),
        (
            "synth.mine",
            "generate killed before its journal",
            "--out",
            None,
            "--out {d}: not empty (.synth) and not a synth.mine dataset; choose another --out",
        ),
        (
            "train.lora",
            "user data",
            "--output",
            None,
            "--output {d}: not empty (notes.txt) and not a train.lora model dir; choose another --output",
        ),
        (
            "synth.merge",
            "generate run",
            "OUT",
            None,
            "OUT {d}: holds a synth.generate run, not a synth.merge dataset; choose another OUT",
        ),
    ],
)
def test_what_is_refused_and_the_line_that_says_why(tmp_path, command, kind, flag, allow, line):
    d = layout(tmp_path / "d", DIRS[kind])
    before = sorted(p.relative_to(d) for p in d.rglob("*"))
    with pytest.raises(OutDirError) as err:
        check_out(d, command, flag, allow_nonempty=allow)
    assert str(err.value) == line.format(d=d)
    assert sorted(p.relative_to(d) for p in d.rglob("*")) == before


def test_allow_nonempty_writes_beside_files_it_does_not_write(tmp_path):
    d = layout(tmp_path / "d", DIRS["user data"])
    check_out(d, "synth.generate", allow_nonempty=True)


def test_a_file_and_a_path_under_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(OutDirError, match=r"^--out \S+notes.txt: a file, not a directory$"):
        check_out(tmp_path / "notes.txt", "synth.generate")
    with pytest.raises(OutDirError, match=r"notes.txt/run: \S+notes.txt is a file, not a directory$"):
        check_out(tmp_path / "notes.txt" / "run", "synth.generate")


def test_a_place_that_cannot_be_written(read_only_dir):
    for out in (read_only_dir, read_only_dir / "run"):
        with pytest.raises(OutDirError) as err:
            check_out(out, "synth.generate")
        assert str(err.value).startswith(f"--out {out}: cannot write in {read_only_dir} (")


def test_disk_errors_are_one_line_and_others_are_not_mapped(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device")
    assert disk_error(full, tmp_path, "rerun the same command") == (
        f"the disk is full (No space left on device) writing {tmp_path}; free space, then rerun the same command"
    )
    named = OSError(errno.EROFS, "Read-only file system", str(tmp_path / "x"))
    assert disk_error(named, tmp_path, "rerun").startswith(
        f"the file system is read-only (Read-only file system) writing {tmp_path / 'x'}"
    )
    assert disk_error(OSError(errno.EBADF, "Bad file descriptor"), tmp_path, "rerun") is None
