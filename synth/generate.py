"""`python -m synth.generate`: synthetic embedding data, end to end.

parse flags -> build plan, journal and backend -> run -> write rows, stats.json and the card.
Past one machine (`synth.run.shards`): --pools-only brainstorms the task pools once, --shard K/N runs
one shard into its own dir (joined by `python -m synth.merge`), --ray runs all of it on a Ray cluster.
Exit status: 0 done, 1 error (a full disk too: rerun to go on), 2 bad flags, 3 stopped by
--max-calls/--max-cost, or a shard past its pools (rerun to go on), 130 interrupted (rerun to go on).
"""

from __future__ import annotations

import logging
import sys

from common.cli import fail, parse
from common.outdir import disk_error
from synth.modes.local import run_here
from synth.modes.setup import GenerateError, check_flags
from synth.run.config import GenerateConfig
from synth.run.secrets import redacted_logging

PROG = "synth.generate"
log = logging.getLogger(PROG)


def main(cfg: GenerateConfig) -> int:
    """Run what cfg asks for; an error is one line on stderr and exit status 1 (2: bad input)."""
    try:
        checked = check_flags(cfg)
        if cfg.mode == "ray" and not cfg.dry_run:
            from synth.modes.ray_run import run_on_ray  # Ray is an optional extra, imported only here

            return run_on_ray(cfg, checked[1])
        return run_here(cfg, checked)
    except GenerateError as err:
        fail(PROG, str(err), err.status)
    except OSError as err:  # a full or read-only disk under --out: what every answered call paid is journaled
        line = disk_error(err, cfg.out, "rerun the same command: it continues where it stopped")
        if line is None:
            raise
        fail(PROG, line)


def cli(argv: list[str] | None = None) -> int:
    redacted_logging()
    cfg = parse(GenerateConfig, argv, PROG, __doc__.splitlines()[0])
    return main(cfg)


if __name__ == "__main__":
    sys.exit(cli())
