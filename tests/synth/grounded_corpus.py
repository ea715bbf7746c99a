"""A small real corpus for grounded tests: help topics of the Python language reference, which ship
with every CPython (pydoc_data), one .txt file per topic. Real prose and code, nothing downloaded."""

from __future__ import annotations

from pathlib import Path


def write_corpus(folder: Path, topics: int = 12, start: int = 0) -> Path:
    from pydoc_data.topics import topics as help_topics

    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(help_topics)[start : start + topics]:
        (folder / f"{name}.txt").write_text(help_topics[name], encoding="utf-8")
    return folder
