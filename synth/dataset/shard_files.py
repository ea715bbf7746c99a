"""What a shard run (`--shard K/N`) reads and leaves beside its dataset for `synth.merge`.

A shard dir is a dataset dir of its own (its rows, deduped within the shard, stats.json, a card)
plus `.synth/shard.json`, which says what the merge needs without reading the journal:

    {"format": 1, "shard": {"k": 2, "n": 8}, "plan": {seed, model, templates, ...},
     "settings": {max_reasks, language_check, ...}, "num_examples": 500000, "shard_rows": 65634,
     "status": "complete", "folded_until": 601234, "pools": {"pool_id": ..., "covers": ..., ...}}

`folded_until` is the first call index of the shard that it has not folded: every call of the shard
below it is decided, and its rows (duplicates included, with their verdict) are in .synth/rows/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth.plan.tasks import TASK_TYPES
from synth.run.shards import (
    FORMAT,
    SHARD_FILE,
    PoolsError,
    PoolSource,
    Shard,
    pools_settings,
    write_json_atomic,
)

if TYPE_CHECKING:
    from synth.plan.plan import Plan
    from synth.run.config import GenerateConfig
    from synth.run.runner import Runner

# What a merge must find equal in every shard, besides the plan: answers folded under other values
# give other rows.
SETTINGS = ("max_reasks", "language_check", "max_tokens_cap", "decontaminate")
POOLS_SUMMARY = ("pool_id", "covers", "status", "accounting", "tokens", "cost_usd", "brainstorm",
                 "task_definitions", "journaled")  # fmt: skip


def pools_needed(plan: Plan) -> bool:
    """Whether any task type of the mix takes its task definitions from brainstorms."""
    return any(TASK_TYPES[t].instruction == "brainstorm" for t in plan.types.items)


def open_pools(cfg: GenerateConfig, fingerprint: dict, shard: Shard) -> PoolSource:
    if cfg.pools is None:
        brainstorming = sorted(t for t, spec in TASK_TYPES.items() if spec.instruction == "brainstorm")
        raise PoolsError(
            f"--shard {shard}: task types that brainstorm ({', '.join(brainstorming)}) read their "
            "task definitions from --pools DIR, made once by the same command with --pools-only"
        )
    settings = pools_settings(fingerprint, cfg.max_reasks, cfg.brainstorm_share)
    return PoolSource(cfg.pools, settings, cfg.max_reasks + 1)


def shard_section(cfg: GenerateConfig, shard: Shard, runner: Runner) -> dict:
    """stats.json's `shard` section."""
    return {
        "k": shard.k,
        "n": shard.n,
        "num_examples": cfg.num_examples,
        "shard_rows": cfg.shard_rows,
        "folded_until": runner.folder.cursor,
        "pools_covers": runner.pools_from.covers if runner.pools_from else None,
    }


def settings_of(cfg: GenerateConfig) -> dict:
    return {
        "max_reasks": cfg.max_reasks,
        "language_check": cfg.language_check,
        "max_tokens_cap": cfg.max_tokens_cap,
        "decontaminate": [str(p) for p in cfg.decontaminate or []],
    }


def write_shard_manifest(
    cfg: GenerateConfig,
    shard: Shard,
    plan_fingerprint: dict,
    runner: Runner,
    status: str,
    pools_from: PoolSource | None,
) -> None:
    pools = None
    if pools_from is not None:
        pools = {k: pools_from.manifest[k] for k in POOLS_SUMMARY if k in pools_from.manifest}
        pools["dir"] = str(pools_from.folder.resolve())
    write_json_atomic(
        cfg.out / ".synth" / SHARD_FILE,
        {
            "format": FORMAT,
            "shard": {"k": shard.k, "n": shard.n},
            "plan": plan_fingerprint,
            "settings": settings_of(cfg),
            "num_examples": cfg.num_examples,
            "shard_rows": cfg.shard_rows,
            "status": status,
            "folded_until": runner.folder.cursor,
            "pools": pools,
        },
    )
