"""Progress bar for a generation run: kept rows against the target, plus calls, rejects, tokens, cost."""

from __future__ import annotations

import time

from tqdm import tqdm


class Progress:
    def __init__(self, total: int, initial: int = 0, disable: bool = False, refresh_s: float = 0.5):
        self.bar = tqdm(total=total, initial=initial, unit="row", desc="generate", disable=disable,
                        mininterval=refresh_s, dynamic_ncols=True)  # fmt: skip
        self.refresh_s = refresh_s
        self._last_postfix = 0.0

    def update(self, runner, force: bool = False) -> None:
        kept = len(runner.rows)
        if kept > self.bar.n:
            self.bar.update(kept - self.bar.n)
        now = time.monotonic()
        if (
            force or now - self._last_postfix >= self.refresh_s
        ):  # formatting the postfix costs more than the bar
            self._last_postfix = now
            tokens = runner.spent_prompt + runner.spent_completion
            self.bar.set_postfix_str(
                f"calls={runner.calls_made} cached={runner.calls_cached} "
                f"rejects={sum(runner.reject_reasons.values())} dup={sum(runner.duplicates.values())} "
                f"tok={tokens / 1e3:.0f}k ${runner.cost:.2f}",
                refresh=force,
            )

    def close(self, runner=None) -> None:
        if runner is not None:
            self.update(runner, force=True)
        self.bar.close()
