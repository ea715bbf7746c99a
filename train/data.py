"""Reading training rows from disk (or the Hub) into validated ``Example`` records.

Accepted ``--data`` values:
  * a synth dataset dir: every ``DIR/data/*.parquet`` and ``DIR/data/*.jsonl`` (sorted by name);
  * one ``.jsonl`` or ``.parquet`` file of the same rows;
  * ``hf://owner/name``: a Hub dataset (needs ``datasets`` and network), split ``train``.

Rows must carry ``instruction``, ``query`` and ``positive`` as non-empty strings; ``negative`` is a
string or null (null: the row uses in-batch negatives only); ``mined_negatives`` (written by
``synth.mine``), when present, is a list of strings or null, the pool that ``--negatives-per-query``
draws from besides ``negative`` (:mod:`train.negatives`); ``teacher_scores`` (synth.mine --teacher),
when present, a list of numbers aligned with :func:`common.candidates.candidate_texts`, which
``--loss kd``/``margin_mse`` need in every row. Other columns of the design's contract
(id, task_type, language, ...) are kept only as far as the trainer needs them. This module does NOT
deduplicate: the batch sampler keeps duplicate texts out of one batch instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from common.candidates import TEACHER_SCORES, score_problem, scores_by_text
from common.jsonl import JsonlError, read_jsonl
from common.rows import TRAINING_REQUIRED
from train.errors import DataError

log = logging.getLogger(__name__)

REQUIRED = TRAINING_REQUIRED  # the row contract is written once, in common.rows (synth writes it)

HUB_PREFIX = "hf://"


@dataclass(frozen=True)
class Example:
    instruction: str
    query: str
    positive: str
    negative: str | None
    task_type: str = ""
    source: str = ""
    mined_negatives: tuple[str, ...] = ()  # from synth.mine; empty strings left out
    # candidate text -> teacher score (synth.mine --teacher), read by text so that the negatives a
    # step draws find their scores whatever was deduplicated; None: the row has no teacher_scores
    teacher: dict[str, float] | None = field(default=None, repr=False)


def _read_jsonl(path: Path) -> list[dict]:
    try:
        return [row for _, row in read_jsonl(path)]
    except JsonlError as e:  # "FILE:LINE: what is wrong" already
        raise DataError(str(e)) from None


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a corrupt file; all mean the same here
        raise DataError(f"{path}: cannot read parquet ({e})") from None


def _read_hub(dataset_id: str) -> list[dict]:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"--data {HUB_PREFIX}{dataset_id}: Hub datasets need `pip install datasets`"
        ) from None
    return list(datasets.load_dataset(dataset_id, split="train"))


def files_of(spec: str) -> list[Path]:
    """The data files one ``--data`` value names; raises DataError when there are none."""
    path = Path(spec)
    if not path.exists():
        raise DataError(
            f"--data {spec}: no such file or directory (a Hub dataset is written {HUB_PREFIX}owner/name)"
        )
    if path.is_file():
        if path.suffix not in (".jsonl", ".parquet"):
            raise DataError(f"--data {spec}: expected a .jsonl or .parquet file or a dataset dir")
        return [path]
    data = path / "data"
    files = sorted([*data.glob("*.parquet"), *data.glob("*.jsonl")]) if data.is_dir() else []
    if not files:
        raise DataError(
            f"--data {spec}: no data/*.parquet or data/*.jsonl inside (is it a synth dataset dir?)"
        )
    return files


def _to_example(row: dict, where: str, need_teacher: str | None = None) -> Example:
    for key in REQUIRED:
        value = row.get(key)
        if not isinstance(value, str) or not value.strip():
            got = "missing" if key not in row else f"{type(value).__name__} {value!r}"[:60]
            raise DataError(f"{where}: field {key!r} must be a non-empty string ({got})")
    neg = row.get("negative")
    if neg is not None and not isinstance(neg, str):
        raise DataError(f"{where}: field 'negative' must be a string or null, got {type(neg).__name__}")
    mined = row.get("mined_negatives")
    if mined is not None and (
        not isinstance(mined, list | tuple) or not all(isinstance(m, str) for m in mined)
    ):
        got = type(mined).__name__ if not isinstance(mined, list | tuple) else "a list with a non-string item"
        raise DataError(f"{where}: field 'mined_negatives' must be a list of strings or null, got {got}")
    if problem := score_problem(row):
        raise DataError(f"{where}: {problem}")
    if need_teacher and row.get(TEACHER_SCORES) is None:
        raise DataError(
            f"{where}: no {TEACHER_SCORES!r} (--loss {need_teacher} needs them in every row; "
            "add them with synth.mine --teacher MODEL)"
        )
    return Example(
        instruction=row["instruction"],
        query=row["query"],
        positive=row["positive"],
        negative=neg if neg and neg.strip() else None,  # an empty negative is no negative
        task_type=str(row.get("task_type") or ""),
        source=str(row.get("source") or ""),
        mined_negatives=tuple(m for m in mined or () if m.strip()),
        teacher=scores_by_text(row) or None,
    )


def load_examples(specs: list[str], need_teacher: str | None = None) -> list[Example]:
    """All rows of all ``--data`` values, in order, validated. Checks every path before reading any.

    ``need_teacher``: the name of a loss that needs ``teacher_scores`` in every row (else None).
    """
    plan = [(s, None) if s.startswith(HUB_PREFIX) else (s, files_of(s)) for s in specs]
    examples: list[Example] = []
    for spec, files in plan:
        if files is None:
            rows = _read_hub(spec[len(HUB_PREFIX) :])
            examples += [_to_example(r, f"{spec} row {i}", need_teacher) for i, r in enumerate(rows)]
            continue
        for f in files:
            rows = _read_jsonl(f) if f.suffix == ".jsonl" else _read_parquet(f)
            examples += [_to_example(r, f"{f} row {i + 1}", need_teacher) for i, r in enumerate(rows)]
        log.info("--data %s: %d rows so far", spec, len(examples))
    if not examples:
        raise DataError(f"--data {' '.join(specs)}: no rows")
    mined = sum(1 for e in examples if e.mined_negatives)
    if mined:
        log.info("%d of %d rows carry mined_negatives", mined, len(examples))
    return examples
