"""Keeping API keys and tokens out of logs, files and error messages."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit, urlunsplit

SECRET_ENV_VARS = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,})")


def redact_url(url: str) -> str:
    """Drop user:password@ and the query string from a URL: people put credentials in both."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit(parts._replace(netloc=netloc, query=""))
    return redact(url)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for value in secrets or _env_secrets():
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return _KEY_LIKE.sub("***", text)


def _env_secrets() -> tuple[str, ...]:
    return tuple(v for name in SECRET_ENV_VARS if (v := os.environ.get(name)))


class RedactingFilter(logging.Filter):
    """Installed on the root handlers by the CLIs: no log line carries a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


HTTP_LOGGERS = ("httpx", "httpx2", "openai")  # one INFO line per request would drown the progress bar


def redacted_logging(level: int = logging.INFO, quiet: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """The CLIs' logging: one format, no secret in any line, the HTTP clients' per-request lines off."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)
