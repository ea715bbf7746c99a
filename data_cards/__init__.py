"""Jinja2 templates for dataset and model cards, shipped as package data."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
