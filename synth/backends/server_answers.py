"""What an OpenAI-compatible server's answers say beyond the status code.

Servers word the same refusals differently, so this module reads their texts in one place:

- a refusal of the request itself (a field the server does not take) is never retried: resending the
  same body gets the same answer. llama-cpp-python answers `response_format: json_schema` with
  HTTP 500 and a pydantic text (`'loc': ('body', 'response_format', 'type'), 'msg': "Input should be
  'text' or 'json_object'"`), OpenAI with 400 "Unrecognized request argument supplied: ...";
- an over-long request names the context length, and often the prompt's token count:
  vLLM "This model's maximum context length is 4096 tokens. However, you requested 7600 tokens (88 in
  the messages, 7512 in the completion)", llama-cpp-python "Requested tokens (4200) exceed context
  window of 4096", llama-server "request (4476 tokens) exceeds the available context size (4096
  tokens)", OpenAI "max_tokens is too large: 20000. This model supports at most 16384 completion
  tokens";
- `/v1/models` reports the context length on some servers (vLLM `max_model_len`, llama-server
  `meta.n_ctx_train` plus `/props`, OpenRouter `context_length`), on others (OpenAI,
  llama-cpp-python) nothing.

What it does not handle: refusals worded in none of these ways stay ordinary HTTP errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from synth.run.secrets import redact

MAX_LINE = 240  # characters of a server's message quoted in one log or error line

# Words of a refusal of the request's fields (checked lower-cased, on 400/422/500/501 only).
_UNSUPPORTED = re.compile(
    r"not supported|unsupported|does not support|not implemented|input should be|literal_error"
    r"|extra inputs are not permitted|extra_forbidden|unrecognized request argument"
    r"|(?:unknown|unrecognized) (?:field|parameter|argument|key)|invalid (?:parameter|schema)"
    r"|invalid (?:value|type) for|must contain the word|\('body', '|\[\"body\", \""
)
_VALIDATION = re.compile(r"validation error")  # pydantic / FastAPI: about the request on 400/422
_RESPONSE_FORMAT = re.compile(r"response_format|json_schema|json_object|structured output|guided")
_PYDANTIC_ITEM = re.compile(r"'loc': \((?P<loc>[^)]*)\), 'msg': (?P<q>['\"])(?P<msg>.*?)(?P=q)")
_TRACEBACK_LINE = re.compile(r"^\s*(File \"|Traceback |POST |GET )")

_CONTEXT = (
    re.compile(r"maximum context length is (\d+)"),
    re.compile(r"context window of (\d+)"),
    re.compile(r"available context size \((\d+) tokens?\)"),
)
_PROMPT = (
    re.compile(r"\((\d+) in the messages"),
    re.compile(r"request has (\d+) input tokens"),
    re.compile(r"requested tokens \((\d+)\)"),
    re.compile(r"request \((\d+) tokens?\) exceeds"),
    re.compile(r"messages resulted in (\d+) tokens"),
)
_OUTPUT_LIMIT = re.compile(r"supports at most (\d+) completion tokens")

# /v1/models entry fields that hold the context length, best first.
MODEL_CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length", "n_ctx")


@dataclass(frozen=True)
class Refusal:
    """An error answer, reduced to what we read: status, the server's message (raw), param, code."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    fields: tuple[tuple[str, int], ...] = ()  # numeric extras, e.g. llama-server's n_ctx

    @classmethod
    def of(cls, status: int, body: object) -> Refusal:
        """From the status and the decoded body (the SDK hands over the `error` object when there
        is one, else the whole body; a body that is not JSON comes as text)."""
        if isinstance(body, str):
            return cls(status, body)
        if not isinstance(body, dict):
            return cls(status, "")
        message = body.get("message")
        detail = body.get("detail")
        if message is None and isinstance(detail, list):  # FastAPI's 422: [{"loc": [...], "msg": ...}]
            message = "; ".join(_loc_msg(d) for d in detail[:3] if isinstance(d, dict))
        elif message is None and detail is not None:
            message = str(detail)
        fields = tuple((k, v) for k, v in body.items() if isinstance(v, int) and not isinstance(v, bool))
        param, code = body.get("param"), body.get("code")
        return cls(
            status, str(message or ""), str(param) if param else None, str(code) if code else None, fields
        )

    @property
    def text(self) -> str:
        """Everything matched against, lower-cased."""
        return " ".join(filter(None, (self.message, self.param, self.code))).lower()

    @property
    def line(self) -> str:
        """The server's message as one short line, secrets redacted."""
        return one_line(self.message) or f"HTTP {self.status} with no message"


def _loc_msg(item: dict) -> str:
    loc = [str(p) for p in item.get("loc") or [] if p != "body"]
    return f"{'.'.join(loc)}: {item.get('msg', '')}" if loc else str(item.get("msg", ""))


def one_line(message: str) -> str:
    """A server's message in one line: pydantic error reprs become `field: msg`, traceback lines
    go, whitespace collapses, secrets are redacted, and the rest is cut at MAX_LINE characters.

    `1 validation error:\\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'),
    'msg': "Input should be 'text' or 'json_object'", ...}\\n  File "app.py" ...`
    -> `response_format.type: Input should be 'text' or 'json_object'`
    """
    items = []
    for m in _PYDANTIC_ITEM.finditer(message):
        loc = [p.strip().strip("'\"") for p in m.group("loc").split(",")]
        loc = [p for p in loc if p and p != "body"]
        items.append(f"{'.'.join(loc)}: {m.group('msg')}" if loc else m.group("msg"))
    if items:
        text = "; ".join(items)
    else:
        lines = [ln for ln in message.splitlines() if ln.strip() and not _TRACEBACK_LINE.match(ln)]
        text = " ".join(" ".join(lines).split())
    text = redact(text)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3].rstrip() + "..."


def is_unsupported(refusal: Refusal) -> bool:
    """The server says the request itself cannot be served (a field or value it does not take):
    sending it again cannot help. A bare 500 "internal error" is not this; a 501 always is."""
    if refusal.status == 501:
        return True
    if refusal.status not in (400, 422, 500):
        return False
    text = refusal.text
    if _UNSUPPORTED.search(text) or refusal.param == "response_format":
        return True
    return refusal.status in (400, 422) and bool(_VALIDATION.search(text))


def concerns_response_format(refusal: Refusal) -> bool:
    """The refusal names response_format (or the JSON modes), so a plainer response_format may pass."""
    return refusal.param == "response_format" or bool(_RESPONSE_FORMAT.search(refusal.text))


@dataclass(frozen=True)
class Overflow:
    """An over-long request: the context length and prompt tokens the server named, if it did, or
    the most completion tokens the model may produce (OpenAI's output limit)."""

    context: int | None
    prompt_tokens: int | None
    output_limit: int | None = None


def context_overflow(refusal: Refusal) -> Overflow | None:
    if refusal.status not in (400, 413, 422, 500):
        return None
    text = refusal.text
    fields = dict(refusal.fields)
    output_limit = _first_int((_OUTPUT_LIMIT,), text)
    context = _first_int(_CONTEXT, text) or fields.get("n_ctx")
    if context is None and output_limit is None:
        return None
    prompt = _first_int(_PROMPT, text) or fields.get("n_prompt_tokens")
    return Overflow(context, prompt, output_limit)


def _first_int(patterns, text: str) -> int | None:
    for pattern in patterns:
        if m := pattern.search(text):
            return int(m.group(1))
    return None


def context_from_models(payload: object, model: str) -> tuple[int, str] | None:
    """(context length, field it came from) from a `/v1/models` answer, for `model` or the only
    model listed; None where the server does not say.

    {"data": [{"id": "m", "max_model_len": 4096}]} -> (4096, "max_model_len")
    {"data": [{"id": "m", "meta": {"n_ctx_train": 8192}}]} -> (8192, "meta.n_ctx_train")
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    entries = [e for e in data if isinstance(e, dict)]
    entry = next((e for e in entries if e.get("id") == model), entries[0] if len(entries) == 1 else None)
    if entry is None:
        return None
    for name in MODEL_CONTEXT_FIELDS:
        if _positive(entry.get(name)):
            return entry[name], name
    meta = entry.get("meta")
    if isinstance(meta, dict):
        for name in ("n_ctx", "n_ctx_train"):  # the served context where given, else the trained one
            if _positive(meta.get(name)):
                return meta[name], f"meta.{name}"
    provider = entry.get("top_provider")  # OpenRouter
    if isinstance(provider, dict) and _positive(provider.get("context_length")):
        return provider["context_length"], "top_provider.context_length"
    return None


def context_from_props(payload: object) -> int | None:
    """The context llama-server serves each request with (`/props`), which its `--ctx-size` and
    `--parallel` set below the trained one reported in `/v1/models`."""
    if not isinstance(payload, dict):
        return None
    settings = payload.get("default_generation_settings")
    if isinstance(settings, dict) and _positive(settings.get("n_ctx")):
        return settings["n_ctx"]
    return payload["n_ctx"] if _positive(payload.get("n_ctx")) else None


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
