"""The recorded loss curve: the same seed and library versions must give the same numbers (1e-6).

A run of train.lora on the tiny Mistral with the default recipe (LoRA dropout on, so the RNG
stream is part of what is checked) whose per-step losses are stored in ``loss_curve.json``, one
entry per (torch, transformers, peft) versions. ``test_loss_curve.py`` reruns it: with versions that
have an entry, any difference is a code change that moved the numbers; with versions that have
none, the test fails too and says by how much the nearest entry differs. Either way, moving the
numbers is a decision: re-record and commit the file (and say why in the commit message)::

    PYTHONPATH=. python -m tests.train.loss_curve --record
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("loss_curve.json")
PACKAGES = ("torch", "transformers", "peft")
STEPS = 4


def versions() -> dict[str, str]:
    return {p: md.version(p) for p in PACKAGES}


def run_curve(root: Path, **overrides) -> list[float]:
    """The recorded run's losses (``overrides`` for runs that must give the same numbers)."""
    import torch

    from tests.tiny_models import build_mistral, build_tokenizer
    from tests.train.conftest import losses, make_rows, small_config, write_dataset_dir
    from train.lora import main

    model = root / "model"
    build_mistral().save_pretrained(model)
    build_tokenizer().save_pretrained(model)
    data = write_dataset_dir(root / "ds", make_rows(64, seed=3))
    out = root / ("run-" + "-".join(f"{k}={v}" for k, v in overrides.items()) if overrides else "run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reductions in one fixed order, whatever the machine
    try:
        kw = {"max_steps": STEPS, "gradient_checkpointing": "off", **overrides}
        main(small_config(model, data, out, **kw))
    finally:
        torch.set_num_threads(threads)
    return losses(out)


def recorded() -> list[dict]:
    return json.loads(GOLDEN.read_text())["entries"] if GOLDEN.exists() else []


def record() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        curve = run_curve(Path(tmp))
    mine = versions()
    entries = [e for e in recorded() if e["versions"] != mine] + [{"versions": mine, "losses": curve}]
    GOLDEN.write_text(json.dumps({"steps": STEPS, "entries": entries}, indent=2) + "\n")
    print(f"recorded {curve} for {mine} in {GOLDEN}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--record", action="store_true", help="rerun and store the curve for the installed versions"
    )
    if p.parse_args().record:
        record()
