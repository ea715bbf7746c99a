"""Progress bar for a generation run: kept rows against the target, and what every call became.

The bar moves as answers arrive, not only as rows are kept: a weak model can spend minutes on
brainstorms and rejected answers before the first row, and that must be visible while it happens.
The postfix shows each step the same way the closing summary does, and apart from the rows the
valid answers `held` until an earlier call finishes:

    generate:  40%|████ | 12/30 rows [00:31, step=examples brainstorm 4 (1 rej) examples 40 (20 rej) held 3 dup 1 tok 45k $0.01]
"""

from __future__ import annotations

import time

from tqdm import tqdm

from synth.run.ledger import Ledger


def step_text(ledger: Ledger, step: str) -> str:
    tally = ledger.steps[step]
    parts = [f"{tally.rejected} rej"]
    if errors := tally.categories["errors"]:
        parts.append(f"{errors} err")
    return f"{step} {tally.calls} ({', '.join(parts)})"


class Progress:
    def __init__(self, total: int, initial: int = 0, disable: bool = False, refresh_s: float = 0.5):
        self.bar = tqdm(
            total=total,
            initial=initial,
            unit="row",
            desc="generate",
            disable=disable,
            mininterval=refresh_s,
            dynamic_ncols=True,
        )
        self.refresh_s = refresh_s
        self._last = 0.0

    def update(self, ledger: Ledger, kept: int, cost: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.refresh_s:  # formatting costs more than the bar
            return
        self._last = now
        if kept > self.bar.n:
            self.bar.n = kept
        examples = ledger.steps["examples"]
        step = "examples" if examples.calls else "brainstorm"
        tokens = ledger.prompt_tokens + ledger.completion_tokens
        duplicates = examples.categories["duplicates"]
        # Valid answers not yet rows: they wait for an earlier call (or came past the target).
        held = examples.categories["held"]
        self.bar.set_postfix_str(
            f"step={step} {step_text(ledger, 'brainstorm')} {step_text(ledger, 'examples')} "
            f"held {held} dup {duplicates} tok {tokens / 1e3:.0f}k ${cost:.2f}",
            refresh=True,  # redraw now: the bar's own refresh waits for a new row
        )

    def close(self, ledger: Ledger | None = None, kept: int = 0, cost: float = 0.0) -> None:
        if ledger is not None:
            self.update(ledger, kept, cost, force=True)
        self.bar.close()
