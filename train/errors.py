"""Errors the CLI reports as one line (no traceback). Kept free of torch so the CLI imports fast, and
free of train.config so that loaders (backbone, data, eval's encoder) need no config to raise them."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad flag, file or combination; the message is one line naming the culprit. Exit status 2."""


class DataError(ConfigError):
    """Unreadable or malformed training data; one line naming the file, the row and the field.

    A ConfigError (exit status 2) because bad data, like a bad flag, is the user's input to fix."""


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/inf; training stops before the update so no garbage is saved. Exit status 1."""
