"""Pull one JSON value out of an LLM answer: plain, fenced in ``` blocks, or wrapped in prose.

Never `eval`: only `json` decodes the text. A failure raises `ParseError` with a reject reason.

>>> extract_json('Sure! Here it is:\\n```json\\n{"S1": "a"}\\n```')
{'S1': 'a'}
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_decoder = json.JSONDecoder()


class ParseError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def extract_json(text: str):
    stripped = text.strip()
    if not stripped:
        raise ParseError("no_json", "empty answer")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass  # not bare JSON: try fences and prose below
    for block in _FENCE.findall(stripped):
        try:
            return json.loads(block.strip())
        except json.JSONDecodeError:
            continue
    # Prose around the JSON: decode from the first bracket that starts a complete value.
    last_error = "no '{' or '[' in the answer"
    for match in re.finditer(r"[\[{]", stripped):
        try:
            value, _ = _decoder.raw_decode(stripped, match.start())
            return value
        except json.JSONDecodeError as err:
            last_error = f"invalid JSON at char {match.start()}: {err.msg}"
    reason = "invalid_json" if ("{" in stripped or "[" in stripped) else "no_json"
    raise ParseError(reason, last_error)
