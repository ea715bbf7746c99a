"""A document's text -> its blocks: headings (with a level), prose paragraphs, list items and code.

Headings: markdown ATX (`## Setup`) and setext/reST ones (a line underlined by a run of one of
`= - * ~ ^ + # " '` at least 3 long and about as long as the line). Setext levels follow the order
in which underline characters first appear, as in reStructuredText (CPython's docs: `*` then `=`
then `-`). Code: ``` or ~~~ fences, and paragraphs whose every line is indented (grammar, examples,
quoted output). Lists: paragraphs opening with `-`, `*`, `+` or `1.`. Prose paragraphs are unwrapped
(hard line breaks joined by a space), as a retriever would read them.

    "Setup\\n=====\\n\\nInstall it\\nwith pip.\\n\\n   pip install x\\n"
    -> [Block("heading", "Setup", 1), Block("prose", "Install it with pip."), Block("code", "   pip install x")]

Not handled: HTML, tables (read as prose), nested lists (one list block), reST directives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_UNDERLINE = re.compile(r"^([=\-*~^+#\"'])\1{2,}[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_LIST = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")
_EMPHASIS = re.compile(r"^[*_`]+|[*_`]+$")


@dataclass(frozen=True)
class Block:
    kind: str  # "heading" | "prose" | "list" | "code"
    text: str
    level: int = 0  # headings: 1 (top) .. 6


def _heading_text(text: str) -> str:
    return _EMPHASIS.sub("", text.strip()).strip()


def parse_blocks(text: str) -> list[Block]:
    """The blocks of `text`, in order (see the module docstring)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    levels: dict[str, int] = {}  # setext underline character -> level, by first appearance
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(_paragraph(para))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush()
            fence, j = _FENCE.match(line).group(1), i + 1
            while j < len(lines) and not lines[j].lstrip().startswith(fence):
                j += 1
            blocks.append(Block("code", "\n".join(lines[i : j + 1])))
            i = j + 1
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            blocks.append(Block("heading", _heading_text(atx.group(2)), len(atx.group(1))))
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        under = _UNDERLINE.match(nxt)
        title = line.strip()
        if under and title and not para and not line[:1].isspace() and len(nxt.strip()) >= 0.7 * len(title):
            levels.setdefault(under.group(1), min(len(levels) + 1, 6))
            blocks.append(Block("heading", _heading_text(title), levels[under.group(1)]))
            i += 2
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    return [b for b in blocks if b.text]


def _paragraph(lines: list[str]) -> Block:
    if all(line[:1] in (" ", "\t") for line in lines) and not _LIST.match(lines[0]):
        return Block("code", "\n".join(lines))
    if _LIST.match(lines[0]):
        return Block("list", "\n".join(line.rstrip() for line in lines))
    return Block("prose", " ".join(line.strip() for line in lines))


def render(blocks: list[Block]) -> str:
    """Blocks back to text, paragraphs apart by a blank line (headings inside a section stay lines)."""
    return "\n\n".join(b.text for b in blocks)
