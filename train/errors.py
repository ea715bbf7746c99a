"""Errors the CLI reports as one line (no traceback). Kept free of torch so the CLI imports fast."""

from __future__ import annotations


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/inf; training stops before the update so no garbage is saved."""
