"""Jinja2 prompt templates, shipped as package data so an installed synthembed finds them."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
