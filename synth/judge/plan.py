"""Which judge calls a dataset needs, and what their verdicts do to its rows.

A call is an `Item`: one prompt, asked once however many rows share it, its verdict applied to all
of them. Which rows are judged:

- rows without a `passage_id` (the paper's synthetic types, labelled sets) pass through unjudged;
- score mode: a single-passage row (grounded_query) is judged on its (query, positive) pair; the rows
  of one multi-hop answer (one row per passage it read) are judged together on (query, all their
  passages), since such a query is written to need every passage and no single one answers it;
- relabel mode: a single-passage row gets the judge's pick among its query's candidates (see
  `synth.judge.relabel`); multi-hop rows pass through, as their positives are a set by design and
  "the one best passage" would undo that.

    rows (q1, p1), (q1, p1), (q2, p2)  -> score items: "s:<hash>" for rows [0, 1], "s:<hash>" for [2]
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from common.rows import JUDGE, MINED_NEGATIVES, row_id
from synth.judge.answers import (
    CRITERIA,
    Scores,
    best_schema,
    low_score_reason,
    relabel_prompt,
    score_prompt,
    score_schema,
)
from synth.plan.tasks import TASK_TYPES


@dataclass
class Item:
    stem: str  # journal keys are f"{stem}:{attempt}"; the stem hashes the first prompt, so a rerun finds it
    kind: str  # "score" | "relabel"
    query: str
    texts: list[str]  # the passages shown, in order
    ids: list[str | None]  # their passage ids (relabel: the candidates, in the order shown)
    rows: list[int] = field(default_factory=list)

    def prompt(self, reask: bool = False) -> str:
        build = score_prompt if self.kind == "score" else relabel_prompt
        return build(self.query, self.texts, reask)

    def schema(self) -> dict:
        return score_schema() if self.kind == "score" else best_schema(len(self.texts))


@dataclass
class Verdict:
    value: Scores | int | None  # None: the judge gave none (every attempt invalid or failed)
    reason: str = ""  # no verdict: "judge_invalid" (answers unreadable) or "judge_error" (request failed)
    detail: str = ""
    answer: str | None = None  # the last answer text, kept in the rejects file


def _stem(kind: str, prompt: str) -> str:
    return f"{kind[0]}:{hashlib.sha256(prompt.encode()).hexdigest()[:16]}"


def _add(items: dict[str, Item], item: Item, row: int) -> None:
    item.stem = _stem(item.kind, item.prompt())
    items.setdefault(item.stem, item).rows.append(row)


def multi_passage(task_type: str) -> bool:
    spec = TASK_TYPES.get(task_type)
    return spec is not None and spec.passages > 1


def plan_score(rows: list[dict]) -> tuple[list[Item], dict[int, str]]:
    """Score items, and the rows that pass through unjudged with why."""
    passthrough: dict[int, str] = {}
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        if not r.get("passage_id"):
            passthrough[i] = "not_grounded"
        elif multi_passage(r["task_type"]):
            groups.setdefault(
                ("multi", r["task_type"], r.get("call"), r["instruction"], r["query"]), []
            ).append(i)
        else:
            groups.setdefault(("one", r["query"], r["positive"]), []).append(i)
    items: dict[str, Item] = {}
    for members in groups.values():
        shown = dict.fromkeys((rows[i]["passage_id"], rows[i]["positive"]) for i in members)
        ids, texts = [p for p, _ in shown], [t for _, t in shown]
        for i in members:
            _add(items, Item("", "score", rows[members[0]]["query"], texts, ids), i)
    return list(items.values()), passthrough


def plan_relabel(rows: list[dict], candidates: dict[int, tuple[list[str | None], list[str]]]) -> list[Item]:
    """Relabel items from each eligible row's candidates (ids and texts in the order shown)."""
    items: dict[str, Item] = {}
    for i, (ids, texts) in candidates.items():
        _add(items, Item("", "relabel", rows[i]["query"], texts, ids), i)
    return list(items.values())


def relabel_passthrough(rows: list[dict]) -> dict[int, str]:
    return {
        i: "not_grounded" if not r.get("passage_id") else "multi_passage"
        for i, r in enumerate(rows)
        if not r.get("passage_id") or multi_passage(r["task_type"])
    }


@dataclass
class Applied:
    rows: list[dict]  # the rows kept, with the judge column (and, relabelled, the new positive)
    counts: dict  # stats.json's judge.rows
    rejects: list[dict]  # every row dropped, with why


def apply_verdicts(
    rows: list[dict],
    mode: str,
    items: list[Item],
    passthrough: dict[int, str],
    verdicts: dict[str, Verdict],
    threshold: int,
    on_invalid: str,
) -> Applied:
    """The output rows, in input order: `judge` set on judged rows, null on the others."""
    verdict_of = {i: (item, verdicts[item.stem]) for item in items for i in item.rows}
    out: list[dict] = []
    rejects: list[dict] = []
    dropped: Counter = Counter()
    unjudged: Counter = Counter()
    histogram: dict[str, Counter] = {c: Counter() for c in CRITERIA}
    relabelled = judged = 0
    seen: set[str] = set()
    for i, row in enumerate(rows):
        row = {**row, JUDGE: None}
        why = None
        if i not in passthrough:
            item, verdict = verdict_of[i]
            if verdict.value is None:
                unjudged[verdict.reason] += 1
                why = verdict.reason if on_invalid == "drop" else None
            elif item.kind == "score":
                judged += 1
                for name, counter in histogram.items():
                    counter[getattr(verdict.value, name)] += 1
                row[JUDGE] = json.dumps(verdict.value.model_dump())
                why = low_score_reason(verdict.value, threshold)
            else:
                judged += 1
                relabelled += _relabel(row, item, verdict.value)
                why = "judge_duplicate" if row["id"] in seen else None  # two seeds, one pick: one row
        if why is not None:
            dropped[why] += 1
            rejects.append(
                {
                    "row": i,
                    "id": row["id"],
                    "reason": why,
                    "query": row["query"],
                    "passage_id": row.get("passage_id"),
                    "judge": row[JUDGE],
                }
            )
            continue
        seen.add(row["id"])
        out.append(row)
    counts = {
        "in": len(rows),
        "out": len(out),
        "judged": judged,
        "passed_through": dict(Counter(passthrough.values()).most_common()),
        "unjudged": dict(unjudged.most_common()),
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(dropped.most_common()),
    }
    if mode == "relabel":
        counts["relabelled"] = relabelled
    else:
        counts["scores"] = {name: {str(s): c[s] for s in sorted(c)} for name, c in histogram.items()}
    assert counts["in"] == counts["out"] + counts["dropped"], f"rows do not add up: {counts}"
    return Applied(out, counts, rejects)


def _relabel(row: dict, item: Item, best: int) -> bool:
    """Make the judge's pick the row's positive; True when it is not the seed passage."""
    seed, new_id, new_text = row["passage_id"], item.ids[best - 1], item.texts[best - 1]
    changed = new_text != row["positive"]  # another id with the seed's very text is no relabel
    row[JUDGE] = json.dumps(
        {"best": best, "candidates": item.ids, "seed": seed, "relabelled": changed}, ensure_ascii=False
    )
    if changed:
        row.update(
            positive=new_text,
            passage_id=new_id,
            id=row_id(row["task_type"], row["instruction"], row["query"], new_text, row["negative"]),
        )
        if row.get(MINED_NEGATIVES):  # a negative mined for the old positive may be the new one
            row[MINED_NEGATIVES] = [n for n in row[MINED_NEGATIVES] if n != new_text]
    return changed
