"""synth.dataset.dataset's dir swap: a derived dir (mined, judged) replaces OUT whole or not at all."""

from __future__ import annotations

import os

import pytest

from synth.dataset.dataset import recover_dir, replace_dir


def test_a_failed_build_leaves_the_old_dir_and_no_temporary(tmp_path):
    out = tmp_path / "mined"
    replace_dir(out, lambda tmp: (tmp.mkdir(), (tmp / "a.txt").write_text("first")))

    def broken(tmp):
        tmp.mkdir()
        (tmp / "a.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_dir(out, broken)
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mined"]
    replace_dir(out, lambda tmp: (tmp.mkdir(), (tmp / "b.txt").write_text("second")))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # nothing of the old dir left in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mined"]


def test_a_crash_between_the_two_renames_is_undone_on_the_next_start(tmp_path):
    out = tmp_path / "judged"
    aside = tmp_path / ".judged.old-999999999"  # no such process: its run is over
    (aside / ".synth").mkdir(parents=True)
    (aside / ".synth" / "judge_journal.jsonl").write_text("{}\n")
    stale = tmp_path / ".judged.tmp-999999999"
    stale.mkdir()
    recover_dir(out)
    assert (out / ".synth" / "judge_journal.jsonl").read_text() == "{}\n" and not aside.exists()
    assert not stale.exists()


def test_a_live_runs_temporary_is_left_alone(tmp_path):
    mine = tmp_path / f".judged.tmp-{os.getpid()}"
    mine.mkdir()
    recover_dir(tmp_path / "judged")
    assert mine.exists()
