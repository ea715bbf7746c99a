"""Where a command may write its output, decided before any work, by one rule for every command.

A command may write into OUT when OUT is
  - absent (created later; the nearest dir above it must be writable), or an empty dir;
  - a dir this command wrote before, told by what only it leaves there (`WRITERS`): a rerun continues
    or rebuilds it;
  - with `allow_nonempty` (synth.generate's `--allow-nonempty`), any other dir that is no command's
    output and holds none of the names the command writes: a run never replaces a file it did not write.
Everything else is refused with one line naming the flag and what is wrong:

    --out notes.txt: a file, not a directory
    --out /mnt/ro/run: cannot write in /mnt/ro (read-only file system)
    --out data/weak: holds a synth.pairs dataset, not a synth.generate run; choose another --out
    --out ~/notes: not empty (README.md) and not a synth.generate run; choose another --out, or pass
        --allow-nonempty to write beside what is there
    --out ~/notes: holds README.md, which a synth.generate run writes; it never replaces a file it did
        not write: choose another --out

Who wrote a dir is read from disk, never from a registry of runs: first the state only one command
keeps (generate's journal, the judge's journal, adapt.json, a trained model's synthembed.json), then
the section a command adds to stats.json (a mined copy of a pairs dataset keeps the `pairs` section
and adds `mining`, so later stages are asked first). `disk_error` turns an OSError met while writing
into the one line a CLI prints. Not handled: two runs writing one dir at once (generate's journal
lock keeps a second one out), network filesystems that refuse writes only when they happen.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path

ALLOW_NONEMPTY = "--allow-nonempty"  # the one flag name, for every command that takes it


class OutDirError(ValueError):
    """An output path the command may not write; `str(err)` is the one line to print."""


@dataclass(frozen=True)
class Writer:
    """What a command leaves in its output dir, so that a later run can tell its own dir."""

    what: str  # "a synth.generate run", as the refusal names it
    marks: tuple[str, ...] = ()  # globs under OUT that only this command writes
    sections: tuple[str, ...] = ()  # stats.json keys only this command adds
    writes: tuple[str, ...] = ()  # top-level names a run writes (checked under --allow-nonempty)
    partial: tuple[
        str, ...
    ] = ()  # what a run killed before its first mark leaves (a dir of only these is its own)


# Marks are tried in this order, then sections in this order: the first match names the writer.
WRITERS: dict[str, Writer] = {
    "synth.generate": Writer(
        "a synth.generate run",
        marks=(
            ".synth/journal.jsonl",
            ".synth/plan",
            ".synth/neighbours.json",
            ".synth/pools",
            ".synth/shards",
            "pools.json",
        ),
        writes=("README.md", "data", "stats.json", "plots", ".synth", "pools.json"),
        partial=(".synth",),
    ),
    "synth.judge": Writer("a synth.judge dataset", marks=(".synth/judge_*",), sections=("judge",)),
    "synth.mine": Writer("a synth.mine dataset", marks=(".synth/teacher-*",), sections=("mining", "teacher")),
    "synth.adapt": Writer("a synth.adapt run", marks=("adapt.json",), partial=("corpus", "logs")),
    "train.lora": Writer(
        "a train.lora model dir",
        marks=("synthembed.json", "checkpoints/step-*", "metrics.jsonl", "adapter/adapter_config.json"),
        partial=("runs",),
    ),
    "synth.merge": Writer("a synth.merge dataset", sections=("merge",)),
    "synth.pairs": Writer(
        "a synth.pairs dataset", marks=(".synth/pairs_rejects.jsonl",), sections=("pairs",)
    ),
}
_SECTION_ORDER = ("synth.mine", "synth.judge", "synth.merge", "synth.pairs")  # later stages first


def writer_of(out: Path) -> str | None:
    """The command that wrote the dir `out`, from what it left there; None when none is recognised."""
    for command, writer in WRITERS.items():
        if any(next(out.glob(mark), None) is not None for mark in writer.marks):
            return command
    sections = _stats_sections(out)
    for command in _SECTION_ORDER:
        if sections & set(WRITERS[command].sections):
            return command
    return None


def _stats_sections(out: Path) -> set[str]:
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(stats) if isinstance(stats, dict) else set()


def check_out(out: Path, command: str, flag: str = "--out", allow_nonempty: bool | None = None) -> None:
    """Raise OutDirError unless `command` may write its output dir at `out` (see the module doc).
    `allow_nonempty`: None for a command without the flag, else whether the user gave it."""
    if out.exists() and not out.is_dir():
        raise OutDirError(f"{flag} {out}: a file, not a directory")
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir())
        if names:
            _check_foreign(out, names, command, flag, allow_nonempty)
    check_writable(out, flag)


def _check_foreign(out: Path, names: list[str], command: str, flag: str, allow: bool | None) -> None:
    writer = WRITERS[command]
    found = writer_of(out)
    if found == command or (found is None and set(names) <= set(writer.partial)):
        return
    if found is not None:
        raise OutDirError(
            f"{flag} {out}: holds {WRITERS[found].what}, not {writer.what}; choose another {flag}"
        )
    if not allow:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        hint = f", or pass {ALLOW_NONEMPTY} to write beside what is there" if allow is False else ""
        raise OutDirError(
            f"{flag} {out}: not empty ({shown}) and not {writer.what}; choose another {flag}{hint}"
        )
    clashes = [name for name in writer.writes if name in names]
    if clashes:
        raise OutDirError(
            f"{flag} {out}: holds {', '.join(clashes)}, which {writer.what} writes; it never replaces a "
            f"file it did not write: choose another {flag}"
        )


def check_writable(path: Path, flag: str) -> None:
    """Raise OutDirError unless `path` is a dir, or can become one, that this process may write in."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == path else f"{probe} is "
        raise OutDirError(f"{flag} {path}: {where}a file, not a directory")
    if (why := write_blocked(probe)) is not None:
        raise OutDirError(f"{flag} {path}: cannot write in {probe} ({why})")


def write_blocked(folder: Path) -> str | None:
    """Why this process cannot create files in `folder` ("read-only file system", "permission
    denied"), or None when it can."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return None if os.access(folder, os.W_OK | os.X_OK) else "permission denied"


def disk_error(err: OSError, where: Path, rerun: str) -> str | None:
    """The one line for an OSError met while writing under `where` (disk full, quota, read-only,
    permission), ending in `rerun` (what running again does); None for any other OSError.

        ENOSPC -> "the disk is full (No space left on device) writing data/run1/.synth/journal.jsonl; free space, then ..."
    """
    causes = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "no permission to write",
        errno.EPERM: "no permission to write",
    }
    if err.errno not in causes:
        return None
    target = err.filename or where
    fix = "free space" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
    return f"{causes[err.errno]} ({err.strerror}) writing {target}; {fix}, then {rerun}"
