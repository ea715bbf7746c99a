"""Past one machine: shard K of N of a run, and the brainstormed pools every shard reads.

Ownership. Shard K/N owns the step-2 calls whose index i has i mod N == K. The plan is a function of
(seed, index) (`synth.plan.plan`), so a shard asks at its indices exactly the questions an unsharded run
asks there, and the N shards together ask the unsharded plan's questions, each once. Interleaving
(rather than N blocks) keeps the shards side by side in index space, so the calls they have all
folded form one prefix of the global order, which is what the merge takes its rows from.

Brainstorms. Task slots of one type are spread over every shard, so every shard needs nearly the
whole pool of that type, and a pool is sequential (slot s's task depends on the brainstorm answers
before it; `synth.run.pools`). Each shard brainstorming for itself would pay for every brainstorm N
times and, with a sampling LLM, give each shard other tasks: not one plan. So brainstorms belong to
no shard: a pools step (`--pools-only`, or the first task of a Ray run) brainstorms once, under the
same journal keys an unsharded run uses, as far as the slots of calls below `covers` need; shards
read that journal (`--pools DIR`) and never brainstorm. Serving slot S alone folds exactly the calls
serving 0..S would, so every slot gets the task the unsharded run gives it. A shard that reaches a
call at or past `covers` stops (status stopped:pools, exit 3) and says how to extend the pools; the
pools step resumes from its journal, so extending pays only for the new brainstorms.

Targets. `--num-examples` stays the global target. Each shard keeps `--shard-rows` rows (deduped
within the shard; default ceil(1.05 * num_examples / N) + 8), a little more than its share, because
the merge drops cross-shard duplicates and takes a prefix of the global call order (`synth.merge`).

    call index:  0  1  2  3  4  5  6  7 ...
    shard 0/3:   *        *        *
    shard 1/3:      *        *        *
    pools:       b:retrieval:0:0, b:retrieval:1:0, ... (brainstormed once, read by every shard)
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from synth.run.answers import classify_brainstorm
from synth.run.journal import Journal, JournalMismatch
from synth.run.pools import BrainstormResult

SHARD_MARGIN = 0.05  # rows a shard keeps beyond its share of the target, as a fraction of that share
SHARD_SLACK = 8  # and a few rows more, for small runs where chance spreads the shards further
POOLS_COVER = 1.5  # the pools step serves the calls below POOLS_COVER * num_examples (+ POOLS_SLACK)
POOLS_SLACK = 64
POOLS_FILE = "pools.json"
SHARD_FILE = "shard.json"
PROGRESS_FILE = "progress.json"
FORMAT = 1
_SHARD = re.compile(r"(\d+)/(\d+)")


class PoolsError(ValueError):
    """A pools dir that cannot serve this shard: missing, another plan, unfinished, or too short."""


@dataclass(frozen=True)
class Shard:
    k: int
    n: int

    def index(self, position: int) -> int:
        """The global call index of this shard's `position`-th call."""
        return self.k + position * self.n

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


UNSHARDED = Shard(0, 1)


def parse_shard(text: str) -> Shard:
    """'2/8' -> Shard(2, 8); a one-line ValueError naming the flag otherwise."""
    m = _SHARD.fullmatch(text.strip())
    if not m or not int(m[1]) < int(m[2]):
        raise ValueError(f"--shard: {text!r} is not K/N with 0 <= K < N (e.g. 0/4)")
    return Shard(int(m[1]), int(m[2]))


def shard_rows(num_examples: int, n: int) -> int:
    """Rows each of n shards keeps by default: its share of the target and a margin."""
    return math.ceil((1 + SHARD_MARGIN) * num_examples / n) + SHARD_SLACK


def pools_cover(num_examples: int) -> int:
    """Calls (global indices) whose task slots a pools step brainstorms for."""
    return math.ceil(POOLS_COVER * num_examples) + POOLS_SLACK


def needed_slots(plan, cover: int, brainstormed: set[str]) -> dict[str, int]:
    """The largest task slot of each brainstorming type among calls below `cover`."""
    counts = plan.counts_before(cover)
    return {t: (n - 1) // plan.examples_per_task for t, n in counts.items() if t in brainstormed and n}


def pools_settings(fingerprint: dict, max_reasks: int, brainstorm_share: float) -> dict:
    """What must agree between a pools dir and a shard that reads it."""
    return {"plan": fingerprint, "max_reasks": max_reasks, "brainstorm_share": brainstorm_share}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PoolsError(f"{path}: not valid JSON ({err})") from None


def write_json_atomic(path: Path, value: dict, fsync: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def pool_id(out: Path) -> str:
    """A pools dir's identity, made once and kept when it is extended: shards that read different
    pools dirs (brainstormed apart, so with other tasks) are not one plan."""
    saved = read_json(out / POOLS_FILE)
    return saved["pool_id"] if saved else uuid.uuid4().hex[:16]


class PoolSource:
    """A pools dir, read-only: the brainstorm answers a shard's task pools fold."""

    def __init__(self, folder: Path, settings: dict, max_attempts: int):
        manifest = read_json(folder / POOLS_FILE)
        if manifest is None:
            raise PoolsError(
                f"--pools: {folder} holds no brainstormed pools (no {POOLS_FILE}); run the pools step "
                "first (the same command with --pools-only and --out that dir)"
            )
        if manifest["settings"] != settings:
            diff = _differences(manifest["settings"], settings)
            raise PoolsError(f"--pools: {folder} was brainstormed for another plan ({', '.join(diff)})")
        if manifest["status"] != "complete":
            raise PoolsError(
                f"--pools: {folder}: the pools step did not finish ({manifest['status']}); rerun it"
            )
        self.folder = folder
        self.manifest = manifest
        self.covers: int = manifest["covers"]
        self.max_attempts = max_attempts
        try:
            self.journal = Journal(folder / ".synth" / "journal.jsonl", None, readonly=True)
        except JournalMismatch as err:
            raise PoolsError(f"--pools: {err}") from None

    async def fetch(self, task_type: str, b: int) -> BrainstormResult:
        """Brainstorm call b of a type, as the pools step answered it (re-asks included)."""
        for attempt in range(self.max_attempts):
            key = f"b:{task_type}:{b}:{attempt}"
            record = self.journal.get(key)
            if record is None:
                raise PoolsError(
                    f"--pools: {self.folder} has no answer for {key}, which calls below {self.covers} "
                    "need; its journal was cut short: rerun the pools step"
                )
            _, answer = classify_brainstorm(record)
            if answer is not None:
                return BrainstormResult(answer.tasks, attempt + 1)
        return BrainstormResult([], self.max_attempts)

    def close(self) -> None:
        self.journal.release()


def _differences(a: dict, b: dict) -> list[str]:
    flat_a = {**a.get("plan", {}), **{k: v for k, v in a.items() if k != "plan"}}
    flat_b = {**b.get("plan", {}), **{k: v for k, v in b.items() if k != "plan"}}
    return sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))
