"""Rendering prompt templates with StrictUndefined.

LLM output (a brainstormed task) reaches a template only as a variable value. Jinja prints values
as they are and never evaluates them again, so a task reading "{{ 7*7 }}" stays literal text.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from prompts import TEMPLATE_DIR


@lru_cache(maxsize=4)
def environment(template_dir: str = str(TEMPLATE_DIR)) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,  # a missing knob is an error, never an empty string
        autoescape=False,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=64)
def template_hash(name: str, template_dir: str = str(TEMPLATE_DIR)) -> str:
    """First 12 hex digits of the SHA-256 of the template source: recorded on every row."""
    return hashlib.sha256((Path(template_dir) / name).read_bytes()).hexdigest()[:12]


def render(name: str, **variables: object) -> str:
    try:
        return environment().get_template(name).render(**variables).strip()
    except jinja2.UndefinedError as err:
        raise ValueError(f"template {name}: {err.message}") from None
