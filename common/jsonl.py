"""Line-numbered JSONL reading: one JSON object per line, blank lines skipped.

    {"_id": "d1", "text": "..."}      -> (1, {"_id": "d1", "text": "..."})
                                      (blank: skipped, numbering goes on)
    {not json                         -> JsonlError "corpus.jsonl:3: not valid JSON (Expecting ... at column 2)"
    [1, 2]                            -> JsonlError "corpus.jsonl:4: expected a JSON object, got list"

Each stage maps :class:`JsonlError` onto its own error type (train's DataError, eval's EvalError), so
the user still sees one line naming the file and the line. What this module does NOT do: check keys
or values (the caller's schema), open gzipped files, or turn a missing file into a JsonlError (callers
check existence first, with a message that says what file was expected).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Problem = Literal["invalid_json", "not_object", "not_utf8"]


class JsonlError(ValueError):
    """A bad line: ``str(e)`` is ``"{path}:{line}: {what is wrong}"``; ``problem`` says which kind."""

    def __init__(self, path: Path, line: int, problem: Problem, detail: str) -> None:
        super().__init__(f"{path}:{line}: {detail}")
        self.path, self.line, self.problem = path, line, problem


def json_reason(e: json.JSONDecodeError) -> str:
    """Why and where a line is not JSON, whole: json's own message ends in "at" when it names the
    spot, which `e.msg` leaves out; the column (and an invisible character) are said in words.

        '{"a": "x<TAB>y"}' -> "(Invalid control character '\\t' at column 9)"
        '{"a": 1} x'       -> "(Extra data at column 10)"
    """
    reason = e.msg.removesuffix(" at")
    if reason == "Invalid control character" and e.pos < len(e.doc):
        reason += f" {e.doc[e.pos]!r}"
    return f"({reason} at column {e.colno})"


def read_jsonl(path: Path | str) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every non-blank line; JsonlError on the first bad one."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise JsonlError(
                    path, n, "not_utf8", f"not UTF-8 text (byte {e.start} of the line)"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))  # a string left open: "Unterminated", not the newline
            except json.JSONDecodeError as e:
                raise JsonlError(path, n, "invalid_json", f"not valid JSON {json_reason(e)}") from None
            if not isinstance(row, dict):
                raise JsonlError(path, n, "not_object", f"expected a JSON object, got {type(row).__name__}")
            yield n, row
