"""`python -m synth.merge OUT SHARD_DIR...`: the shard dirs of one run as one dataset dir.

What it does: every shard (`synth.generate --shard K/N`) left the answers it placed, in its own call
order, in .synth/rows/ (duplicates within the shard included). The merge walks all of them in global
call-index order, deduplicates again across shards (exact and near, with `synth.checks.dedup`, as a single
run does), and keeps rows until --num-examples. It stops at the first call not every shard has
decided (`folded_until` in each .synth/shard.json), so the rows are a prefix of the global order.

What equality holds: given the same answers per journal key (a deterministic server, or the same
journals), the merged rows are exactly the rows of one unsharded run of the same command, in the
same order (ids, calls, every column). Counts of calls differ: shards run a little past the cut,
and those answers are `held` in the merged accounting, as an unsharded run's late answers are.

    merged accounting: calls = pools' brainstorms + every shard's journal records
                       kept/duplicates/decontaminated = the global fold's, below the cut
                       held = shards' held + their placed answers at or past the cut

Rerun-safe: every file is replaced atomically and the result depends only on the shard dirs, so a
second merge writes the same files. A shard dir of another plan (seed, model, templates, languages,
task mix, corpus, settings that change rows) or of another pools dir is refused in one line.
Not handled: shards whose rows lie on other machines (copy the shard dirs together first).
"""

from __future__ import annotations

import heapq
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from common.cli import fail, parse
from common.outdir import OutDirError, check_out
from common.rows import ROW_SCHEMA
from synth.card.render import render_card
from synth.checks.dedup import Deduper
from synth.dataset.dataset import DATA_FILE, replace_atomically, write_json, write_text
from synth.dataset.row_parts import Group, read_groups
from synth.plan.tasks import TASK_TYPES
from synth.run.allocator import return_large_frees_to_the_os
from synth.run.shards import SHARD_FILE, read_json
from synth.run.stats import STATS_VERSION, RowCounts
from synth.run.summary import format_summary

PROG = "synth.merge"
BATCH_GROUPS = 4096  # answers deduplicated per batch (`Deduper.check_many` gives row-by-row verdicts)
_ROLE_COLUMN = {
    "query": "query",
    "positive": "positive",
    "negative": "negative",
    "instruction": "instruction",
}


class MergeError(ValueError):
    pass


@dataclass
class MergeConfig:
    """Join the shard dirs of one sharded run into one dataset dir."""

    out: Path = field(metadata={"help": "the merged dataset dir to write (or rewrite)", "positional": True})
    shards: list[Path] = field(
        metadata={"help": "every shard dir of the run (synth.generate --shard K/N)", "positional": True}
    )
    num_examples: int | None = field(
        default=None, metadata={"help": "rows of the merged dataset (default: the shards' --num-examples)"}
    )
    license: str = field(default="other", metadata={"help": "license written into the data card's metadata"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        if self.num_examples is not None and self.num_examples < 1:
            raise ValueError(f"--num-examples must be at least 1, got {self.num_examples}")


@dataclass
class ShardDir:
    path: Path
    manifest: dict
    stats: dict

    @property
    def k(self) -> int:
        return self.manifest["shard"]["k"]

    @property
    def n(self) -> int:
        return self.manifest["shard"]["n"]


@dataclass
class Fold:
    """The global fold's outcome."""

    counts: RowCounts = field(default_factory=RowCounts)
    verdicts: Counter = field(default_factory=Counter)  # kept / exact / near / decontaminated answers
    below_cut: Counter = field(default_factory=Counter)  # placed answers of each shard below the cut
    cut: int = 0  # first call index not folded
    complete: bool = False


def load_shards(paths: list[Path], out: Path) -> list[ShardDir]:
    """The shard dirs, checked to be the N shards of one run, sorted by K; MergeError otherwise."""
    shards = []
    for path in paths:
        if path.resolve() == out.resolve():
            raise MergeError(f"{out}: the merged dir cannot be one of the shard dirs")
        manifest = read_json(path / ".synth" / SHARD_FILE)
        stats = read_json(path / "stats.json")
        if manifest is None or stats is None:
            raise MergeError(
                f"{path}: not a finished shard dir (no .synth/{SHARD_FILE} or stats.json); "
                "make shards with synth.generate --shard K/N"
            )
        shards.append(ShardDir(path, manifest, stats))
    first = shards[0]
    for shard in shards[1:]:
        for what in ("plan", "settings"):
            a, b = first.manifest[what], shard.manifest[what]
            if a != b:
                diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                raise MergeError(
                    f"{shard.path} and {first.path} are shards of different plans ({', '.join(diff)})"
                )
        if shard.n != first.n:
            raise MergeError(
                f"{shard.path} is shard {shard.k}/{shard.n} and {first.path} {first.k}/{first.n}: not one run"
            )
        ids = [(s.manifest["pools"] or {}).get("pool_id") for s in (first, shard)]
        if ids[0] != ids[1]:
            raise MergeError(
                f"{shard.path} and {first.path} read different pools dirs (pool ids {ids[1]}, {ids[0]}): "
                "their task definitions differ"
            )
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.k in seen:
            raise MergeError(f"shard {shard.k}/{shard.n} given twice ({seen[shard.k]}, {shard.path})")
        seen[shard.k] = shard.path
    missing = [f"{k}/{first.n}" for k in range(first.n) if k not in seen]
    if missing:
        raise MergeError(
            f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing: give all {first.n}"
        )
    if (out / ".synth" / "journal.jsonl").exists():
        raise MergeError(f"{out}: holds a generation run (its journal); merge into another dir")
    return sorted(shards, key=lambda s: s.k)


def dedup_texts_of(row: dict) -> list[str]:
    """The texts a row is deduplicated on, from its columns (as `synth.run.answers.dedup_texts` takes
    them from the answer): query and positive, never a label or a corpus passage."""
    spec = TASK_TYPES[row["task_type"]]
    return [row[_ROLE_COLUMN[f.role]] for f in spec.fields if f.dedup]


def global_groups(shards: list[ShardDir], until: int) -> Iterator[Group]:
    """Every placed answer of every shard with a call index below `until`, in call order."""
    streams = [read_groups(s.path / ".synth" / "rows") for s in shards]
    for group in heapq.merge(*streams, key=lambda g: g.index):
        if group.index >= until:
            return
        yield group


def fold(shards: list[ShardDir], target: int, writer: pq.ParquetWriter, progress: bool) -> Fold:
    """Keep rows in global call order, deduplicated across shards, until `target`; write them."""
    available = min(s.manifest["folded_until"] for s in shards)  # every shard decided every call below
    result = Fold(cut=available)
    dedup = Deduper()
    n = shards[0].n
    bar = tqdm(total=target, unit="row", desc="merge", disable=not progress)
    batch: list[Group] = []
    groups = global_groups(shards, available)
    while not result.complete:
        batch = [g for _, g in zip(range(BATCH_GROUPS), groups, strict=False)]
        if not batch:
            break
        checked = [g for g in batch if g.verdict != "decontaminated"]
        # by position: a call asked for several queries places several answers under one index
        verdicts = dict(
            zip(
                (id(g) for g in checked),
                dedup.check_many([dedup_texts_of(g.rows[0]) for g in checked]),
                strict=True,
            )
        )
        kept: list[dict] = []
        for group in batch:
            result.below_cut[group.index % n] += 1
            verdict = "decontaminated" if group.verdict == "decontaminated" else verdicts[id(group)]
            result.verdicts[verdict or "kept"] += 1
            if verdict is None:
                for row in group.rows:
                    result.counts.add(row)
                kept.extend(group.rows)
            if result.counts.rows >= target:
                result.cut, result.complete = group.index + 1, True
                break
        if kept:
            writer.write_table(pa.Table.from_pylist(kept, schema=ROW_SCHEMA))
        bar.update(result.counts.rows - bar.n)
    bar.close()
    return result


def merge(
    out: Path, shards: list[ShardDir], target: int, license: str = "other", progress: bool = False
) -> dict:
    """Write the merged dataset dir; its stats.json."""
    result = Fold()

    def write_rows(tmp: Path) -> None:
        nonlocal result
        with pq.ParquetWriter(tmp, ROW_SCHEMA, compression="zstd") as writer:
            result = fold(shards, target, writer, progress)

    replace_atomically(out / DATA_FILE, write_rows)
    stats = merged_stats(shards, result, target)
    write_json(out / "stats.json", stats)
    _write_rejects(out / ".synth" / "rejects.jsonl", shards)
    write_text(out / "README.md", render_card(out, stats, license))
    return stats


def merged_stats(shards: list[ShardDir], result: Fold, target: int) -> dict:
    first = shards[0].stats
    pools = shards[0].manifest["pools"] or {}
    placed = sum(
        s.stats["accounting"]["examples"][c] for s in shards for c in ("kept", "duplicates", "decontaminated")
    )
    held_past_cut = placed - sum(result.below_cut.values())
    why = "over_target" if result.complete else "after_unfinished_call"
    examples = {
        "kept": result.verdicts["kept"],
        "held": sum(s.stats["accounting"]["examples"]["held"] for s in shards) + held_past_cut,
        "duplicates": result.verdicts["exact"] + result.verdicts["near"],
        "decontaminated": result.verdicts["decontaminated"],
        "rejected": sum(s.stats["accounting"]["examples"]["rejected"] for s in shards),
        "errors": sum(s.stats["accounting"]["examples"]["errors"] for s in shards),
    }
    examples_calls = sum(examples.values())
    examples.update(
        calls=examples_calls,
        rejects=_sum(s.stats["accounting"]["examples"]["rejects"] for s in shards),
        errors_by_cause=_sum(s.stats["accounting"]["examples"]["errors_by_cause"] for s in shards),
        held_why={why: examples["held"]} if examples["held"] else {},
    )
    brainstorm = (pools.get("accounting") or {}).get("brainstorm") or {
        "calls": 0,
        "useful": 0,
        "rejected": 0,
        "errors": 0,
        "rejects": {},
        "errors_by_cause": {},
    }
    journaled = sum(s.stats["calls"]["journaled"] for s in shards) + pools.get("journaled", 0)
    accounting = {
        "calls": journaled,
        "brainstorm": brainstorm,
        "examples": examples,
        "balanced": brainstorm["calls"] + examples_calls == journaled,
    }
    rows = result.counts.rows
    accounting["calls_per_row"] = {
        "brainstorm": round(brainstorm["calls"] / rows, 3) if rows else None,
        "examples": round(examples_calls / rows, 3) if rows else None,
        "all": round(journaled / rows, 3) if rows else None,
    }
    tokens = _sum([*(s.stats["tokens"] for s in shards), pools.get("tokens", {})])
    language_check = dict(first["language_check"])
    if language_check.get("enabled"):
        for key in ("wrong_language", "wrong_script"):
            language_check[key] = dict(_sum(s.stats["language_check"][key] for s in shards).most_common())
    decontamination = {**first["decontamination"], "dropped": result.verdicts["decontaminated"]}
    brainstorm_pools = {
        t: {
            **p,
            "examples_on": dict(
                _sum(s.stats["brainstorm"].get(t, {}).get("examples_on", {}) for s in shards)
            ),
        }
        for t, p in (pools.get("brainstorm") or {}).items()
    }
    return {
        "format_version": STATS_VERSION,
        "status": "complete" if result.complete else "short",
        "rows": rows,
        "target": target,
        **result.counts.section(),
        "duplicates": {"exact": result.verdicts["exact"], "near": result.verdicts["near"]},
        "rejects": {"brainstorm": brainstorm.get("rejects", {}), "examples": examples["rejects"]},
        "rejected_examples": sum(s.stats["rejected_examples"] for s in shards),
        "examples_folded": result.cut,
        "brainstorm": brainstorm_pools,
        "task_definitions": pools.get("task_definitions", {"valid": 0, "rejected": {}}),
        "accounting": accounting,
        "calls": _merge_calls(
            [s.stats["calls"] for s in shards], journaled, brainstorm["errors"] + examples["errors"]
        ),
        "tokens": {"prompt": tokens["prompt"], "completion": tokens["completion"]},
        "cost_usd": round(sum(s.stats["cost_usd"] for s in shards) + pools.get("cost_usd", 0.0), 6),
        "price_per_million": first["price_per_million"],
        "generator": first["generator"],
        "templates": first["templates"],
        "elapsed_s": max(s.stats["elapsed_s"] for s in shards),  # shards run side by side
        "elapsed_total_s": max(s.stats.get("elapsed_total_s", s.stats["elapsed_s"]) for s in shards),
        # the shards read one corpus; which passages the merged rows use is not counted again
        **(
            {"corpus": {k: v for k, v in first["corpus"].items() if k != "passages_used"}}
            if "corpus" in first
            else {}
        ),
        "language_check": language_check,
        "decontamination": decontamination,
        "merge": {
            "shards": [
                {
                    "k": s.k,
                    "dir": str(s.path),
                    "status": s.manifest["status"],
                    "rows": s.stats["rows"],
                    "calls": s.stats["calls"]["journaled"],
                    "folded_until": s.manifest["folded_until"],
                }
                for s in shards
            ],
            "folded_until": min(s.manifest["folded_until"] for s in shards),
            "cut": result.cut,
            "pools": {k: pools[k] for k in ("pool_id", "covers", "journaled", "dir") if k in pools} or None,
        },
    }


def _sum(dicts) -> Counter:
    total: Counter = Counter()
    for d in dicts:
        total.update({k: v for k, v in d.items() if isinstance(v, int | float)})
    return total


_LARGEST = {"length", "capped_largest_ask"}  # a context window, a largest ask: the same server's, not summed


def _merge_calls(sections: list[dict], journaled: int, failed: int) -> dict:
    """stats.json's `calls` of the shards as one: counts added, a context window's size and the
    guided mode taken as the shards report them."""

    def combine(values: list, key: str = ""):
        if all(isinstance(v, dict) for v in values):
            keys = dict.fromkeys(k for v in values for k in v)
            return {k: combine([v[k] for v in values if k in v], k) for k in keys}
        if all(isinstance(v, list) for v in values):
            return [x for v in values for x in v]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len([v for v in values if v is not None]):
            return max(numbers) if key in _LARGEST else sum(numbers)
        return values[0]

    calls = combine(sections)
    calls["journaled"] = journaled  # the pools' brainstorms included
    calls["failed"] = failed
    return calls


def _write_rejects(path: Path, shards: list[ShardDir]) -> None:
    """The pools' and every shard's rejected answers, one file, streamed."""
    pools = shards[0].manifest["pools"]
    sources = [Path(pools["dir"]) / ".synth" / "rejects.jsonl"] if pools and pools.get("dir") else []
    sources += [s.path / ".synth" / "rejects.jsonl" for s in shards]

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            for source in sources:
                if source.exists():
                    with open(source, "rb") as src:
                        while chunk := src.read(1 << 20):
                            f.write(chunk)

    replace_atomically(path, write)


def main(cfg: MergeConfig) -> int:
    return_large_frees_to_the_os()  # one dedup index over every shard's rows: as in a run
    try:
        shards = load_shards(cfg.shards, cfg.out)
        check_out(cfg.out, PROG, "OUT")  # absent, empty or an earlier merge: never a run or a stranger's dir
        targets = {s.manifest["num_examples"] for s in shards}
        if cfg.num_examples is None and len(targets) > 1:
            raise MergeError(
                f"the shards were run with different --num-examples ({', '.join(map(str, sorted(targets)))}): "
                "give the merged size with --num-examples"
            )
    except (MergeError, OutDirError) as err:
        fail(PROG, str(err), 2)
    target = cfg.num_examples or targets.pop()
    stats = merge(cfg.out, shards, target, cfg.license, cfg.progress)
    print(format_summary(stats, cfg.out), file=sys.stderr)
    if stats["status"] != "complete":
        stopped = [s for s in shards if s.manifest["status"] != "complete"]
        if stopped:
            s = stopped[0]
            print(
                f"{PROG}: {stats['rows']:,} of {target:,} rows: shard {s.k}/{s.n} ended {s.manifest['status']}; rerun "
                f"it ({s.path}) to finish it, with a higher budget if one stopped it, and merge again",
                file=sys.stderr,
            )
            return 3
        need = max(s.manifest["shard_rows"] for s in shards)
        short = target - stats["rows"]
        print(
            f"{PROG}: {stats['rows']:,} of {target:,} rows: the calls every shard has decided end at "
            f"{stats['merge']['folded_until']:,}; rerun the shards with --shard-rows {need + -(-short // len(shards)) + 8} "
            "(they resume) and merge again",
            file=sys.stderr,
        )
        return 3
    return 0


def cli(argv: list[str] | None = None) -> int:
    cfg = parse(MergeConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
