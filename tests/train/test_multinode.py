"""Two "nodes" on 127.0.0.1: two separate torchrun (or deepspeed launcher) launches, one process each,
gloo, as a cluster runs them, against one process step by step.

On node 1, LOCAL_RANK is 0 but RANK is 1, so code that wrote files, printed or resumed by local rank
would do it twice here. The second test gives each node its own ``--output``, as nodes without
shared storage have: training and export still work (the model dir lands on rank 0's node), and
``--resume`` / a fresh run over old checkpoints stop with one line on both nodes instead of one
node resuming while the other starts over (a hang or silently mismatched replicas).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.train.conftest import cli_args, free_port, like, losses

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Node:
    returncode: int
    stderr: str


def launch_nodes(
    node_args: list[list[str]],
    cwd: Path,
    *,
    module: str = "train.lora",
    launcher: str = "static",
    timeout: float = 240,
) -> list[Node]:
    """Start one launcher per entry of ``node_args``, all at once, as each node of a cluster would, each
    running one process of ``python -m module``. ``launcher``:

    * "static": ``torchrun --nnodes N --node-rank i --master-addr/--master-port`` (node i is rank i);
    * "c10d": ``torchrun --nnodes N --rdzv-backend c10d --rdzv-endpoint`` (ranks in order of arrival);
    * "deepspeed": ``deepspeed --hostfile H --no_ssh --node_rank i --master_addr`` (node i is rank i),
      which appends ``--local_rank=0`` to the flags as it does by default.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    port, nodes = free_port(), len(node_args)
    hostfile = cwd / "hostfile"
    hostfile.write_text("".join(f"node{i} slots=1\n" for i in range(nodes)))  # names unused with --no_ssh
    procs, logs = [], []
    for rank, args in enumerate(node_args):
        torchrun = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            str(nodes),
            "--nproc-per-node",
            "1",
        ]
        cmd = {
            "static": [
                *torchrun,
                "--node-rank",
                str(rank),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                "-m",
                module,
            ],
            "c10d": [
                *torchrun,
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "t",
                "-m",
                module,
            ],
            "deepspeed": [
                sys.executable,
                "-m",
                "deepspeed.launcher.runner",
                "--hostfile",
                str(hostfile),
                "--no_ssh",
                "--node_rank",
                str(rank),
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                str(port),
                "--module",
                module,
            ],
        }[launcher] + args
        err = open(cwd / f"node{rank}.stderr", "w+")  # a file, not a pipe: a full pipe would block the node
        logs.append(err)
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=err, stderr=err))
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for p in procs:  # SIGTERM: torchrun stops its workers (they run in sessions of their own)
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        pytest.fail(
            f"the nodes did not finish within {timeout}s: {(cwd / 'node0.stderr').read_text()[-2000:]}"
        )
    out = []
    for p, err in zip(procs, logs, strict=True):
        err.seek(0)
        out.append(Node(p.returncode, err.read()))
        err.close()
    return out


def adapter(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


def test_two_nodes_equal_one_process_and_resume(single, tmp_path):
    """Shared --output, c10d rendezvous: the 2-node run gives the one-process losses and adapter, each
    rank's RNG lands under its global rank, rank 0 alone prints the summary, and after dropping the
    last checkpoint --resume on both nodes redoes that step identically."""
    cfg, _ = single
    out, first = tmp_path / "out", tmp_path / "first"
    args = cli_args(like(cfg, out))
    runs = [
        {"args": args},
        {"copytree": [str(out), str(first)]},
        {"rmtree": str(out / "checkpoints" / "step-0000003")},
        {"args": [*args, "--resume"]},
    ]
    (tmp_path / "spec.json").write_text(json.dumps({"runs": runs}))
    worker = ["--worker-spec", str(tmp_path / "spec.json")]
    nodes = launch_nodes([worker, worker], tmp_path, module="tests.train.dist_worker", launcher="c10d")
    assert [n.returncode for n in nodes] == [0, 0], nodes[0].stderr[-3000:] + nodes[1].stderr[-3000:]

    assert losses(first) == pytest.approx(losses(cfg.output), abs=1e-5)
    ours, reference = adapter(first), adapter(cfg.output)
    assert ours.keys() == reference.keys()
    # Adam's update of a weight whose gradient is near its eps turns float-order noise into up to a
    # step (lr 1e-3): with one order of rows 3 of 1,536 weights differ by 5e-5 to 4e-4. A lost or
    # doubled rank moves most weights, so: nearly all equal to 1e-5, and none by a whole step.
    for k in ours:
        diff = (ours[k] - reference[k]).abs()
        assert (diff > 1e-5).float().mean() < 0.01 and diff.max() < 1e-3, (k, diff.max())
    step2 = first / "checkpoints" / "step-0000002"
    assert sorted(p.name for p in step2.glob("rng-rank*.pt")) == ["rng-rank0.pt", "rng-rank1.pt"]
    summaries = [n.stderr.count("trained 3 steps") for n in nodes]
    assert sorted(summaries) == [0, 2]  # rank 0's node prints it, once per run; node 1 (local rank 0) never

    assert any("resumed from" in n.stderr and "step-0000002" in n.stderr for n in nodes)
    assert losses(out) == pytest.approx(losses(first), abs=1e-6)
    for k, t in adapter(out).items():
        torch.testing.assert_close(t, ours[k], atol=1e-6, rtol=1e-5)


@pytest.mark.slow  # four two-node launches: about a minute of CI; two nodes on one disk stay in the fast suite
def test_nodes_without_shared_storage_refuse_to_resume_until_the_checkpoint_is_copied(single, tmp_path):
    """Each node its own --output (node-local disks), static rendezvous, the train.lora CLI. Training
    matches one process and exports on rank 0's node only; node 1 holds nothing but rank 1's RNG
    states. Then --resume (and a fresh run over the old checkpoints) fail on BOTH nodes with the
    same one line, rather than resuming on one node and starting over on the other. Once rank 0's
    checkpoint is copied to node 1 (the README's remedy), --resume redoes the last step exactly."""
    cfg, _ = single
    outs = [tmp_path / "disk0" / "out", tmp_path / "disk1" / "out"]
    nodes = launch_nodes([cli_args(like(cfg, o)) for o in outs], tmp_path)
    assert [n.returncode for n in nodes] == [0, 0], nodes[0].stderr[-3000:] + nodes[1].stderr[-3000:]
    assert losses(outs[0]) == pytest.approx(losses(cfg.output), abs=1e-5)
    assert (outs[0] / "modules.json").exists()
    assert (outs[0] / "checkpoints" / "step-0000003" / "DONE").exists()
    on_node1 = sorted(str(p.relative_to(outs[1])) for p in outs[1].rglob("*") if p.is_file())
    assert on_node1 == [f"checkpoints/step-000000{s}/rng-rank1.pt" for s in (2, 3)]

    for extra, expected in [
        (
            ["--resume"],
            "--resume: rank 0 sees checkpoint step-0000003 in --output {out} but rank 1 sees none: "
            "with several nodes, --output must be on storage they all share",
        ),
        (
            [],
            "--output {out} already holds checkpoints (newest step-0000003 on rank 0's node); pass --resume",
        ),
    ]:
        nodes = launch_nodes([[*cli_args(like(cfg, o)), *extra] for o in outs], tmp_path, timeout=120)
        for n, out in zip(nodes, outs, strict=True):
            # torchrun exits 1 and reports the worker's status; what comes before that is train.lora's
            assert n.returncode != 0 and "failed (exitcode: 2)" in n.stderr
            ours = n.stderr[: n.stderr.index("failed (exitcode: 2)")]
            errors = [line for line in ours.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and expected.format(out=out) in errors[0], ours[-3000:]
            assert "Traceback" not in ours

    for out in outs:  # back to step 2 on both nodes, then rank 0's checkpoint copied over node 1's
        shutil.rmtree(out / "checkpoints" / "step-0000003")
    shutil.copytree(outs[0] / "checkpoints", outs[1] / "checkpoints", dirs_exist_ok=True)
    nodes = launch_nodes([[*cli_args(like(cfg, o)), "--resume"] for o in outs], tmp_path)
    assert [n.returncode for n in nodes] == [0, 0], nodes[0].stderr[-3000:] + nodes[1].stderr[-3000:]
    assert all("resumed from" in n.stderr and "step-0000002" in n.stderr for n in nodes)
    assert "no RNG state" not in nodes[0].stderr + nodes[1].stderr  # each node kept its own rank's
    assert losses(outs[0]) == pytest.approx(losses(cfg.output), abs=1e-5)


@pytest.mark.slow  # DeepSpeed's launcher over two nodes; ZeRO-3 over two ranks stays in the fast suite
def test_deepspeed_launcher_on_two_nodes_matches_one_process(single, tmp_path):
    """``deepspeed --hostfile --no_ssh --node_rank i`` on each node with ZeRO-3 gives the one-process
    losses; the ``--local_rank=0`` that launcher appends is accepted; each rank writes its own shard."""
    pytest.importorskip("deepspeed")
    cfg, _ = single
    out = tmp_path / "out"
    args = [*cli_args(like(cfg, out)), "--deepspeed", str(REPO / "train" / "configs" / "zero3.json")]
    nodes = launch_nodes([args, args], tmp_path, launcher="deepspeed", timeout=400)
    assert [n.returncode for n in nodes] == [0, 0], nodes[0].stderr[-3000:] + nodes[1].stderr[-3000:]
    assert "--local_rank=0" in nodes[1].stderr  # the launcher did pass it (it logs the command)
    assert losses(out) == pytest.approx(losses(cfg.output), abs=1e-4)  # as the one-node ZeRO-3 test
    ours, reference = adapter(out), adapter(cfg.output)
    for k in reference:
        torch.testing.assert_close(ours[k], reference[k], atol=1e-3, rtol=0)
    step2 = out / "checkpoints" / "step-0000002"
    assert {p.name for p in step2.glob("zero_pp_rank_*_optim_states.pt")} == {
        f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)
    }
