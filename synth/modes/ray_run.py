"""`synth.generate --ray auto|ADDRESS --shards N`: a sharded run on a Ray cluster, merged at the end.

    pools step (one task) -> N shard tasks (K/N each, side by side) -> merge into --out
    --out/.synth/pools          the brainstormed task pools (synth.modes.pools_step)
    --out/.synth/shards/K       shard K's dir: journal, row parts, its own stats and card
    --out/data, stats.json ...  the merged dataset (synth.merge)

Each task runs the same code as `synth.generate --shard K/N --pools ...` on one machine (`synth.modes.local.run_here`,
in the Ray worker), with `num_gpus = --tensor-parallel-size` for --backend vllm and none for the
HTTP backends. A task that fails, or whose worker or node is lost, is run again by Ray (max_retries,
--ray-retries); it resumes from its journal, so no answered call is paid twice. The driver shows one
progress line from the small status file each shard rewrites every second, and merges at the end.
If a shard runs past the pools, they are extended and the shard rerun; if the merge is short (the
shards' rows held more cross-shard duplicates than their margin), the shards keep more rows and
the merge runs again; both resume, paying only for new calls.

Why Ray tasks and not `ray.data.llm` (its vLLM engine processor): that maps a fixed dataset of
prompts through engine replicas. Generation is not a fixed map: which calls exist depends on earlier
answers (re-asks after validation, brainstorm pools folded in order, a target counted after dedup),
every answer must be journaled before use so a retry never pays twice (Ray Data retries whole
blocks), and the same run must work against OpenAI's live and Batch APIs, not only a vLLM engine.
A Ray task per shard keeps the one code path that tests exercise, and Ray still does placement,
GPUs per task, retries on lost workers and nodes.

Needs: `pip install 'synthembed[ray]'`; --out on a filesystem every node sees (a retried task may
land on another node and must find its journal); the API key exported on every node before
`ray start` (it is never put into Ray's runtime environment, which Ray stores and shows).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from pathlib import Path

from tqdm import tqdm

from synth.merge import load_shards, merge
from synth.modes.local import run_here
from synth.modes.setup import GenerateError, finish
from synth.plan.tasks import TASK_TYPES
from synth.run.config import GenerateConfig
from synth.run.shards import POOLS_FILE, PROGRESS_FILE, read_json
from synth.run.summary import format_summary

PROG = "synth.generate"
POLL_S = 0.5
MAX_ROUNDS = 5  # pools extensions plus top-ups before the driver gives up and says why


class ShardFailed(RuntimeError):
    """A shard or pools task ended with an error: Ray runs it again (it resumes)."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise GenerateError("--ray needs Ray: pip install 'synthembed[ray]'", 2) from None
    return ray


def run_task(cfg: GenerateConfig) -> int:
    """One pools or shard run inside a Ray worker: its output goes to a log in its dir, an error
    becomes an exception so that Ray retries it, and its exit status comes back."""
    log = cfg.out / ".synth" / "log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            status = run_here(cfg)
        except GenerateError as err:  # the one line the CLI would print, in the log
            print(f"{PROG}: error: {err}", file=sys.stderr)
            status = err.status
    if status == 1:
        raise ShardFailed(f"{cfg.out}: failed, see {log}")
    return status


def run_on_ray(cfg: GenerateConfig, task_mix: dict[str, float]) -> int:
    ray = import_ray()
    if not ray.is_initialized():
        address = None if cfg.ray == "auto" else cfg.ray  # None: RAY_ADDRESS, a running cluster, or a new one
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise GenerateError(
                f"--ray {cfg.ray}: cannot reach a Ray cluster ({str(err).splitlines()[0]})"
            ) from err
    n = cfg.shards
    resources = (
        {"num_gpus": cfg.tensor_parallel_size, "num_cpus": 1} if cfg.backend == "vllm" else {"num_cpus": 1}
    )
    task = ray.remote(run_task).options(
        max_retries=cfg.ray_retries, retry_exceptions=[ShardFailed], **resources
    )
    pools_dir = cfg.out / ".synth" / "pools"
    shard_dirs = [cfg.out / ".synth" / "shards" / f"{k:05d}" for k in range(n)]
    started = time.monotonic()
    needs_pools = any(TASK_TYPES[t].instruction == "brainstorm" for t in task_mix)
    cover = None
    rows = math.ceil(1.05 * cfg.num_examples / n) + 8
    try:
        for _ in range(MAX_ROUNDS):
            if needs_pools:
                status = _wait(ray, [task.remote(_pools_cfg(cfg, pools_dir, cover))], cfg, [], "pools")[0]
                if status != 0:
                    return _stop(
                        f"the pools step ended with status {status}; see {pools_dir / '.synth' / 'log.txt'}",
                        status,
                    )
            refs = [
                task.remote(_shard_cfg(cfg, d, k, n, rows, pools_dir if needs_pools else None))
                for k, d in enumerate(shard_dirs)
            ]
            statuses = _wait(ray, refs, cfg, shard_dirs, "generate")
            stops = {
                s: read_json(d / ".synth" / "shard.json") for s, d in zip(statuses, shard_dirs, strict=True)
            }
            if any((m or {}).get("status") == "stopped:pools" for m in stops.values()):
                cover = 2 * read_json(pools_dir / POOLS_FILE)["covers"]  # extend the pools, rerun the shards
                continue
            bad = [s for s in statuses if s not in (0, 3)]
            if bad:
                return _stop(
                    f"a shard ended with status {bad[0]}; see its log in {shard_dirs[statuses.index(bad[0])]}/.synth",
                    bad[0],
                )
            stats = merge(
                cfg.out, load_shards(shard_dirs, cfg.out), cfg.num_examples, cfg.license, cfg.progress
            )
            if stats["status"] == "complete" or any(s == 3 for s in statuses):
                break  # done, or a budget stopped a shard: the merge holds what there is
            short = cfg.num_examples - stats["rows"]
            rows += math.ceil(1.1 * short / n) + 8  # keep more rows in every shard; they resume
        else:
            return _stop(f"not complete after {MAX_ROUNDS} rounds of extending the pools and topping up", 3)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to go on (every shard resumes)", file=sys.stderr)
        return 130
    stats["elapsed_s"] = round(time.monotonic() - started, 2)
    print(format_summary(stats, cfg.out), file=sys.stderr)
    return finish(cfg, stats["status"] if stats["status"] == "complete" else "stopped:max_calls")


def _pools_cfg(cfg: GenerateConfig, out: Path, cover: int | None) -> GenerateConfig:
    return dataclasses.replace(
        cfg,
        out=out,
        ray=None,
        shards=None,
        pools_only=True,
        pools_cover=cover,
        progress=False,
        push_to_hub=None,
    )


def _shard_cfg(
    cfg: GenerateConfig, out: Path, k: int, n: int, rows: int, pools: Path | None
) -> GenerateConfig:
    """Shard K's flags: its dir, its rows, and 1/N of the run's budgets."""
    return dataclasses.replace(
        cfg,
        out=out,
        ray=None,
        shards=None,
        shard=f"{k}/{n}",
        pools=pools,
        shard_rows=rows,
        progress=False,
        push_to_hub=None,
        max_calls=math.ceil(cfg.max_calls / n) + 100,
        max_cost=None if cfg.max_cost is None else cfg.max_cost / n,
    )


def _wait(ray, refs: list, cfg: GenerateConfig, dirs: list[Path], what: str) -> list[int]:
    """Wait for the tasks, drawing one progress line from the shards' status files; their statuses.
    A task that failed every retry raises here, and the run stops with its error."""
    bar = tqdm(total=cfg.num_examples, unit="row", desc=what, disable=not cfg.progress, dynamic_ncols=True)
    pids: dict[Path, set[int]] = {d: set() for d in dirs}
    best: dict[Path, int] = {}
    pending = list(refs)
    try:
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
            if dirs:
                _draw(bar, dirs, pids, best, len(pending))
        return [_result(ray, ref) for ref in refs]
    finally:
        bar.close()


def _result(ray, ref) -> int:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as err:
        raise GenerateError(
            f"a Ray task failed, retries included: {str(err).strip().splitlines()[-1]}"
        ) from err


def _draw(bar: tqdm, dirs: list[Path], pids: dict[Path, set[int]], best: dict, running: int) -> None:
    """The combined line: rows kept in all shards (before the merge's cross-shard dedup), calls,
    rejects, cost, and how many shard processes had to start again."""
    seen = [read_json(d / ".synth" / PROGRESS_FILE) or {} for d in dirs]
    for d, s in zip(dirs, seen, strict=True):
        if "pid" in s:
            pids[d].add(s["pid"])
    # A restarted shard counts its rows up again from its journal: show the most it has had.
    rows = sum(max(s.get("rows", 0), best.get(d, 0)) for d, s in zip(dirs, seen, strict=True))
    best.update({d: max(s.get("rows", 0), best.get(d, 0)) for d, s in zip(dirs, seen, strict=True)})
    bar.n = min(rows, bar.total)
    restarts = sum(max(0, len(p) - 1) for p in pids.values())
    bar.set_postfix_str(
        f"shards {running}/{len(dirs)} running, calls {sum(s.get('calls', 0) for s in seen):,}, "
        f"rej {sum(s.get('rejected', 0) for s in seen)}, dup {sum(s.get('duplicates', 0) for s in seen)}, "
        f"${sum(s.get('cost', 0.0) for s in seen):.2f}, restarted {restarts}",
        refresh=True,
    )


def _stop(message: str, status: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return status
