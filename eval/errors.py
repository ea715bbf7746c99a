"""User-facing errors: one line naming the file or flag and what is wrong.

Library code raises :class:`EvalError`; the CLI edge (:func:`eval.cli.run_main`) prints its message
on one line and exits with status 2, without a traceback. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class EvalError(Exception):
    """A problem with the user's input (a missing file, a bad id, a model that will not load)."""
