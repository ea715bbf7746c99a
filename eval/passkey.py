"""Personalized passkey retrieval: ``python -m eval.passkey --model M --lengths 256,...,8192 --out results/``.

Evaluates the model as it is and, with ``--rope-theta``, again with that RoPE base, on the same
documents; prints a table, writes ``passkey.json`` and ``passkey.png`` (accuracy against length).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eval.cli import run_main
from eval.errors import EvalError
from eval.options import RESULTS_FORMAT, EncoderOptions, describe_instruction, out_file, pick_instruction
from eval.passkey_task import INSTRUCTION, build, plot, table, token_counter, top1_accuracy


@dataclass(kw_only=True)
class Config(EncoderOptions):
    """Top-1 accuracy of finding the one document that holds a person's passkey, per length."""

    lengths: str = field(
        default="256,512,1024,2048,4096,8192",
        metadata={"help": "document lengths in tokens, comma-separated"},
    )
    num_docs: int = field(default=100, metadata={"help": "documents (= people = queries) per length"})
    seed: int = field(default=0, metadata={"help": "seed of names, passkeys and needle positions"})
    rope_theta: float | None = field(
        default=None, metadata={"help": "also evaluate with this RoPE base (e.g. 1e6) to show its effect"}
    )
    instruction: str | None = field(
        default=None,
        metadata={
            "help": f"instruction on the queries; '' for none; default {INSTRUCTION!r}. Only models trained "
            "with instructions get one (see --use-instructions)"
        },
    )
    out: str = field(
        default="results",
        metadata={"help": "results .json file (PNG beside it), or a dir that gets passkey.json/.png"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.length_list = sorted({int(x) for x in self.lengths.split(",") if x.strip()})
        except ValueError:
            raise EvalError(f"--lengths {self.lengths!r}: expected comma-separated integers") from None
        if not self.length_list or self.length_list[0] < 8:
            raise EvalError(f"--lengths {self.lengths!r}: need at least one length >= 8")
        if not 2 <= self.num_docs <= 625:
            raise EvalError(f"--num-docs {self.num_docs}: must be between 2 and 625")


def _accuracies(
    cfg: Config, theta: float | None, data: dict | None
) -> tuple[dict[int, float], dict, str | None]:
    """One model load (the encoder is freed on return, before the next load): accuracy per length,
    the data, and the instruction the queries got."""
    # Room for the longest document plus BOS/EOS: passkey documents must never be truncated.
    encoder = cfg.load_encoder(max_length=max(cfg.length_list) + 8, rope_theta=theta)
    if data is None:  # the same documents for every run, lengths counted with the model's tokenizer
        count = token_counter(encoder.tokenizer)
        data = {n: build(n, cfg.num_docs, cfg.seed, count) for n in cfg.length_list}
    instruction = pick_instruction(encoder, cfg.instruction, INSTRUCTION)  # None for a model without
    return {n: top1_accuracy(encoder, data[n], instruction) for n in cfg.length_list}, data, instruction


def main(cfg: Config) -> dict:
    out_file(cfg.out, "passkey.json", create=False)  # a bad --out is known before the encoding
    runs: dict[str, dict[int, float]] = {}
    data = None
    instruction = None
    for theta in [None] + ([cfg.rope_theta] if cfg.rope_theta is not None else []):
        label = "as trained" if theta is None else f"rope_theta={theta:g}"
        runs[label], data, instruction = _accuracies(cfg, theta, data)
    path = out_file(cfg.out, "passkey.json")
    png = path.with_suffix(".png")
    plot(cfg.length_list, runs, png, f"Passkey retrieval: {Path(cfg.model).name or cfg.model}")
    result = {
        "format_version": RESULTS_FORMAT,
        "model": cfg.model,
        "num_docs": cfg.num_docs,
        "seed": cfg.seed,
        "lengths": cfg.length_list,
        "instruction": instruction,
        "accuracy": {
            r: {str(n): a for n, a in acc.items()} for r, acc in runs.items()
        },  # run -> length -> top-1
        "plot": str(png),
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        table(cfg.length_list, runs) + f"\ninstruction={describe_instruction(instruction)}\n-> {path}, {png}"
    )
    return result


if __name__ == "__main__":
    run_main(Config, main)
