"""``python -m train.interpolate``: a model between the base and the tuned one (WiSE-FT, LM-Cocktail).

    W(alpha) = (1 - alpha) * W_base + alpha * W_tuned        for every floating-point tensor

alpha 1 is the tuned model, 0 the base; in between, the tuned model keeps most of its gain on the
new domain and gives back less of what the base knew (Wortsman et al. 2022, "Robust fine-tuning of
zero-shot models"; Xiao et al. 2023, LM-Cocktail). With LoRA it is the adapter's update scaled by
alpha. The output is a model dir like the tuned one (its tokenizer, pooling, sentence-transformers
files and synthembed.json, which records the alpha), so every evaluator and loader reads it as it
reads the tuned model.

    python -m train.interpolate --model runs/x/model --alpha 0.5 --output runs/x/model-0.5

The base is the one synthembed.json names (`base_model`), or `--base`. Not handled: models whose
base and tuned tensors differ in name or shape (a changed vocabulary): refused in one line.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from common.cli import fail, opt, parse

PROG = "train.interpolate"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
log = logging.getLogger(PROG)


@dataclass
class InterpolateConfig:
    model: Path | None = opt(None, "the tuned model dir (train.lora's --output)", required=True)
    alpha: float = opt(0.5, "weight of the tuned model, in [0, 1]: 0 the base, 1 the tuned model")
    output: Path | None = opt(None, "new model dir to write (must not exist, or be empty)", required=True)
    base: str | None = opt(None, "the base model dir or Hub id (default: synthembed.json's base_model)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}")
        meta = self.model / "synthembed.json" if self.model else None
        if meta is None or not meta.is_file():
            raise ValueError(f"--model: {self.model} has no synthembed.json; give a train.lora output dir")
        if self.base is None:
            self.base = json.loads(meta.read_text()).get("base_model")
            if not self.base:
                raise ValueError(f"--model: {meta} names no base_model; pass --base")
        if self.output.exists() and (not self.output.is_dir() or any(self.output.iterdir())):
            raise ValueError(f"--output: {self.output} exists and is not an empty dir; choose a new one")


def interpolate_state(base: dict, tuned: dict, alpha: float) -> dict:
    """(1 - alpha) * base + alpha * tuned for floating tensors; others (integer buffers such as
    position ids) from the tuned model. Names and shapes must agree.

    >>> import torch
    >>> interpolate_state({"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([2.0, 2.0])}, 0.25)["w"]
    tensor([0.5000, 2.0000])
    """
    if base.keys() != tuned.keys():
        odd = sorted(base.keys() ^ tuned.keys())
        raise ValueError(f"base and tuned models have different tensors ({len(odd)}, e.g. {odd[0]})")
    out = {}
    for name, t in tuned.items():
        b = base[name]
        if b.shape != t.shape:
            raise ValueError(f"{name}: base shape {tuple(b.shape)} != tuned {tuple(t.shape)}")
        out[name] = b.to(t.dtype).lerp(t, alpha) if t.is_floating_point() else t
    return out


def main(cfg: InterpolateConfig) -> Path:
    import torch

    from train.backbone import load_backbone

    tuned = load_backbone(str(cfg.model), dtype=torch.float32)
    base = load_backbone(cfg.base, dtype=torch.float32)
    state = interpolate_state(base.state_dict(), tuned.state_dict(), cfg.alpha)
    tuned.load_state_dict(state)
    tmp = cfg.output.with_name(cfg.output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # everything but the weights is the tuned model's (tokenizer with its EOS rule, pooling, ST files)
    shutil.copytree(cfg.model, tmp, ignore=lambda d, names: [n for n in names if n.endswith(WEIGHT_SUFFIXES)])
    tuned.save_pretrained(tmp)
    meta = json.loads((tmp / "synthembed.json").read_text())
    meta["interpolation"] = {"alpha": cfg.alpha, "base_model": cfg.base, "tuned_model": str(cfg.model)}
    (tmp / "synthembed.json").write_text(json.dumps(meta, indent=2))
    if cfg.output.exists():
        cfg.output.rmdir()  # empty, checked above
    tmp.rename(cfg.output)
    return cfg.output


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = parse(InterpolateConfig, argv, PROG, __doc__.splitlines()[0])
    except ValueError as err:
        fail(PROG, str(err), 2)
    try:
        out = main(cfg)
    except (OSError, ValueError) as err:
        fail(PROG, str(err))
    print(f"{PROG}: alpha {cfg.alpha} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
