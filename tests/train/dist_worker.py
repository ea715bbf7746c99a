"""torchrun worker for test_distributed: runs train.lora.main once per entry of a JSON spec inside the
same processes, so the import cost (most of a tiny run) is paid once. Not a test module."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys

import torch.distributed as dist

from train.config import parse_args
from train.lora import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # as train.lora.cli does: the test reads the log
    p = argparse.ArgumentParser()
    p.add_argument("--worker-spec", required=True)
    spec = json.loads(open(p.parse_args().worker_spec).read())
    for run in spec["runs"]:
        if "rmtree" in run or "copytree" in run:  # e.g. keep a run's files, drop a checkpoint, then --resume
            if dist.get_rank() == 0:
                if "copytree" in run:
                    shutil.copytree(*run["copytree"])
                else:
                    shutil.rmtree(run["rmtree"])
            dist.barrier()
            continue
        main(parse_args(run["args"]))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    # Several main() calls (and DeepSpeed engines) in one process sometimes abort in C++ teardown
    # at interpreter exit ("terminate called without an active exception"), after all results are
    # on disk; the CLI, one run per process, does not (6/6 clean runs). Skip that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
