"""The fold (synth.run.fold.Folder): outcomes arriving in any order give the same rows, in call order."""

from __future__ import annotations

import random

import pyarrow as pa

from common.rows import COLUMNS, ROW_SCHEMA, Row
from synth.dataset.row_parts import RowParts, read_groups
from synth.plan.plan import Plan
from synth.run.answers import analyse
from synth.run.fold import Folder, Outcome
from synth.run.ledger import Entry, Ledger
from synth.testing.fake_openai import FakeLLM, Faults


def outcomes(n: int) -> list[Outcome]:
    """n sts outcomes with real answers from the fake LLM; every 7th is a copy of the one before."""
    plan = Plan(1, {"sts": 1.0}, {"en": 1.0}, 3)
    llm, made = FakeLLM(Faults()), []
    for i in range(n):
        call = plan[i]
        prompt = f'"S1" "S2" "S3" written in English. triple of {call.knobs["unit"]}s'
        text = made[-1][1] if i % 7 == 6 else llm.answer(prompt, random.Random(i))[0]
        result = analyse("sts", text, call.knobs, language_check=False)
        assert result.fields is not None, result.reason
        made.append(
            (
                Outcome(call, "Retrieve semantically similar text.", result.answers, f"g:{i}:0"),
                text,
            )
        )
    return [o for o, _ in made]


def fold_all(order: list[Outcome], target: int, folder_path) -> tuple[list[dict], Ledger]:
    ledger = Ledger()
    for o in order:
        ledger.record(o.key, Entry("examples", "held"))
    parts = RowParts(folder_path, {"test": 1})
    folder = Folder(target, "fake", ledger, parts)
    for o in order:
        folder.add(o)
        folder.fold()
    folder.flush()
    parts.close()
    return [r for b in parts.kept_batches() for r in b.to_pylist()], ledger


def test_rows_do_not_depend_on_arrival_order_and_the_ledger_follows(tmp_path):
    made = outcomes(40)
    in_order, ledger = fold_all(made, target=30, folder_path=tmp_path / "a")
    shuffled = made[:]
    random.Random(3).shuffle(shuffled)
    assert fold_all(shuffled, target=30, folder_path=tmp_path / "b")[0] == in_order
    assert len(in_order) == 30 and [r["call"] for r in in_order] == sorted(
        (r["call"] for r in in_order), key=lambda k: int(k.split(":")[1])
    )
    counts = ledger.steps["examples"].categories
    assert counts["duplicates"] >= 4 and counts["kept"] == 30
    assert counts["kept"] + counts["duplicates"] + counts["held"] == 40  # the rest wait past the target


def test_the_row_contract_is_written_once():
    row = Row(**{c: "x" for c in COLUMNS})
    table = pa.Table.from_pylist([row.as_dict()], schema=ROW_SCHEMA)
    assert table.column_names == list(COLUMNS) and ROW_SCHEMA.field("negative").nullable


def test_rows_stream_to_parts_and_a_resumed_fold_writes_none_twice(tmp_path, monkeypatch):
    """Rows leave memory as parts of whole calls; a second fold of the same answers (a resumed run)
    skips the calls its parts cover and writes only what is new."""
    monkeypatch.setattr("synth.dataset.row_parts.PART_ROWS", 8)
    made = outcomes(40)
    first, _ = fold_all(made[:20], target=100, folder_path=tmp_path / "rows")
    parts = sorted((tmp_path / "rows").glob("part-*.parquet"))
    assert len(parts) >= 2 and all(p.stat().st_size for p in parts)
    stamps = {p.name: p.stat().st_mtime_ns for p in parts}
    again, _ = fold_all(made, target=100, folder_path=tmp_path / "rows")
    assert again[: len(first)] == first and len(again) > len(first)
    assert {p.name: p.stat().st_mtime_ns for p in parts} == stamps  # the old parts were not rewritten
    groups = list(read_groups(tmp_path / "rows"))
    assert [g.index for g in groups] == list(range(40))  # every placed call once, duplicates too
    assert sum(g.verdict is None for g in groups) == len(again) and {g.verdict for g in groups} >= {
        None,
        "exact",
    }
