"""Teacher scores for every row's candidates, computed in resumable parts (`synth.mine --teacher`).

Rows are taken `chunk_rows` at a time; a chunk's distinct (instruction, query, candidate) triples go
to the teacher in one call (which batches them by --batch-size), and the chunk's scores are written
to `STATE/teacher-<fingerprint>/part-NNNNNN.parquet` (fsynced, renamed into place) before the next
chunk starts. A part records a digest of the texts it scored, so a rerun after a crash reuses every
part whose rows and candidates are unchanged and scores only the rest; a teacher with other settings
has another fingerprint, so another folder.

    rows [("q1", pos "a", neg None, mined ["b", "c"]), ("q2", pos "b", neg "x", mined ["a"])]
    -> candidates [["a", "b", "c"], ["b", "x", "a"]] -> teacher_scores [[s(q1,a), s(q1,b), s(q1,c)],
                                                                        [s(q2,b), s(q2,x), s(q2,a)]]

Memory: one chunk's texts and scores at a time, plus 4 bytes a score for the finished column (9
candidates a row: 36 MB per million rows); the teacher's own memory is its weights and one batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from common.candidates import TEACHER_SCORES, candidate_texts

PART_FORMAT = 1
SCORE_TYPE = pa.list_(pa.float32())


@dataclass
class Scored:
    column: pa.ChunkedArray  # list<float32>, one list per row, in common.candidates order
    pairs_scored: int  # distinct (query, candidate) pairs the teacher scored in this run
    pairs_reused: int  # ... found in parts of an earlier run
    parts: int
    parts_reused: int
    calls: dict | None = None  # the judge teacher's calls (synth.mining.teacher_judge), else None
    rows_dropped: int = 0  # rows left out for a candidate without a score (the judge never answered)


def fingerprint(teacher) -> str:
    spec = {"format": PART_FORMAT, **teacher.fingerprint()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _digest(triples: list[tuple[str, str, list[str]]]) -> str:
    return hashlib.sha256(json.dumps(triples, ensure_ascii=False).encode()).hexdigest()


def score_candidates(
    rows: list[dict],
    negatives: list[list[str]],
    teacher,
    state: Path,
    chunk_rows: int = 4096,
    progress: bool = False,
) -> Scored:
    """Scores of each row's query against `common.candidates.candidate_texts` of the row with `negatives`
    as its mined negatives (one score list per row, in that order)."""
    assert len(rows) == len(negatives), "one mined list per row"
    folder = state / f"teacher-{fingerprint(teacher)}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "teacher.json").write_text(json.dumps(teacher.fingerprint(), sort_keys=True), encoding="utf-8")
    chunks: list[pa.Array] = []
    scored = reused = parts_reused = 0
    with tqdm(total=len(rows), unit="row", desc="teacher", disable=not progress) as bar:
        for part, start in enumerate(range(0, len(rows), chunk_rows)):
            triples = [
                (r.get("instruction") or "", r["query"], candidate_texts({**r, "mined_negatives": n}))
                for r, n in zip(
                    rows[start : start + chunk_rows], negatives[start : start + chunk_rows], strict=True
                )
            ]
            path, digest = folder / f"part-{part:06d}.parquet", _digest(triples)
            column, distinct = _read_part(path, digest), _distinct(triples)
            if column is not None:
                reused += len(distinct)
                parts_reused += 1
            else:
                column = _score(triples, distinct, teacher)
                _write_part(path, column, digest)
                scored += len(distinct)
            chunks.append(column)
            bar.update(len(triples))
    parts = len(chunks)
    return Scored(pa.chunked_array(chunks, type=SCORE_TYPE), scored, reused, parts, parts_reused)


def _distinct(triples: list[tuple[str, str, list[str]]]) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys((i, q, t) for i, q, texts in triples for t in texts))


def _score(triples, distinct: list[tuple[str, str, str]], teacher) -> pa.Array:
    values = teacher.score([d[0] for d in distinct], [d[1] for d in distinct], [d[2] for d in distinct])
    assert len(values) == len(distinct), f"the teacher gave {len(values)} scores for {len(distinct)} pairs"
    at = {d: float(v) for d, v in zip(distinct, values.tolist(), strict=True)}
    return pa.array([[at[i, q, t] for t in texts] for i, q, texts in triples], type=SCORE_TYPE)


def _read_part(path: Path, digest: str) -> pa.Array | None:
    """A finished part's scores if it scored exactly these texts, else None (scored again)."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError):  # a torn or foreign file: score the chunk again
        return None
    meta = table.schema.metadata or {}
    if meta.get(b"digest") != digest.encode() or TEACHER_SCORES not in table.column_names:
        return None
    return table.column(TEACHER_SCORES).combine_chunks()


def _write_part(path: Path, column: pa.Array, digest: str) -> None:
    table = pa.table({TEACHER_SCORES: column}).replace_schema_metadata({"digest": digest})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
