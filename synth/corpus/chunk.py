"""A document -> passages of at most `budget` tokens, cut where the text already breaks.

1. Paragraphs: blocks between blank lines. A markdown heading line (`#` to `######`) is a paragraph
   of its own even without blank lines around it; blank lines inside a ``` or ~~~ fence do not end
   the code block's paragraph.
2. A paragraph over the budget is cut after its sentences (`.!?…` then a space; `。！？` with or
   without one; `। ؟ ။ ។`; a line break); a sentence over the budget between words, where a
   character of a script written without spaces (Han, Kana, Thai, ...) is a word; a word over the
   budget (a URL, a base64 blob) into slices of characters.
3. The pieces are packed in order, greedily, up to the budget: paragraphs are joined by a blank
   line, the pieces of one paragraph as they stood. A passage never ends on a heading when more
   text follows (the heading moves on with its section), and the last two passages of a document
   are evened out, so a document does not end in a sliver.

    "# Setup\\n\\nInstall it.\\n\\nRun it." with a budget that holds all -> ["# Setup\\n\\nInstall it.\\n\\nRun it."]
    three paragraphs of 100 tokens, budget 256                     -> [P1 + P2, P3]
    one paragraph of 600 tokens, budget 256                        -> three passages cut after sentences

Every passage holds at most `budget` tokens by `count_tokens` (the estimate by default). Not handled:
setext headings (underlined with === or ---), tables (a long one is cut between its lines),
overlap between passages (each piece of text is in exactly one passage).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from synth.corpus.tokens import DENSE_CHARS, TokenCounter, estimate

MIN_BUDGET = 16  # a passage must hold a sentence's worth of words; below this chunks are noise

_BLANK_LINES = re.compile(r"\n\s*\n")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*\s+"  # Latin-style: a space after the mark ("3.5" and "e.g.x" stay whole)
    r"|[。！？｡]+[」』”’）]*\s*"  # CJK: no space needed
    r"|[।॥؟۔።។။]+\s*"  # Devanagari, Arabic, Ethiopic, Khmer, Myanmar
    r"|\n\s*"  # a line break inside a paragraph (lists, verse, code)
)
_WORD = re.compile(rf"[{DENSE_CHARS}]\s*|[^\s{DENSE_CHARS}]+\s*|\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    text: str  # a paragraph, or a cut of one with the whitespace that followed it
    tokens: float
    new_paragraph: bool  # joined to the piece before by a blank line (else as it stood)
    heading: bool = False


def paragraphs(text: str) -> list[tuple[str, bool]]:
    """(paragraph, is a heading) in order; empty ones dropped.

    >>> paragraphs("# Title\\nIntro line.\\n\\n\\nBody.")
    [('# Title', True), ('Intro line.', False), ('Body.', False)]
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "#" not in text and "```" not in text and "~~~" not in text:  # fast path: plain text
        return [(p.strip(), False) for p in _BLANK_LINES.split(text) if p.strip()]
    out: list[tuple[str, bool]] = []
    lines: list[str] = []
    fence = ""

    def flush() -> None:
        block = "\n".join(lines).strip()
        if block:
            out.append((block, False))
        lines.clear()

    for line in text.split("\n"):
        bare = line.strip()
        if fence:  # inside a code block: everything is code, blank lines included
            lines.append(line)
            fence = "" if bare.startswith(fence) else fence
        elif bare.startswith(("```", "~~~")):
            lines.append(line)
            fence = bare[:3]
        elif not bare:
            flush()
        elif _HEADING.match(line):  # not indented: an indented "# x" is code or a comment
            flush()
            out.append((bare, True))
        else:
            lines.append(line)
    flush()
    return out


def _cut_after(text: str, pattern: re.Pattern) -> list[str]:
    cuts = [m.end() for m in pattern.finditer(text)]
    bounds = [0, *(c for c in cuts if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _slices(word: str, budget: int, count) -> list[str]:
    """A word over the budget -> consecutive slices of it, each within the budget."""
    out = []
    while word:
        n, tokens = len(word), count(word)
        if tokens > budget:
            n = max(1, int(n * budget / tokens))
            while n > 1 and count(word[:n]) > budget:
                n -= max(1, n // 10)
        out.append(word[:n])
        word = word[n:]
    return out


def pieces(text: str, budget: int, count=estimate) -> Iterator[Piece]:
    """The document as pieces of at most `budget` tokens each, coarsest cut first."""
    for para, heading in paragraphs(text):
        tokens = count(para)
        if tokens <= budget:
            yield Piece(para, tokens, True, heading)
            continue
        first = True
        for sentence in _cut_after(para, _SENTENCE_END):
            tokens = count(sentence)
            if tokens <= budget:
                yield Piece(sentence, tokens, first)
                first = False
                continue
            for word in _WORD.findall(sentence):
                for part in _slices(word, budget, count) if count(word) > budget else [word]:
                    yield Piece(part, count(part), first)
                    first = False


def join(group: list[Piece]) -> str:
    out: list[str] = []
    for k, piece in enumerate(group):
        if k and piece.new_paragraph:
            out[-1] = out[-1].rstrip()
            out.append("\n\n")
        out.append(piece.text)
    return "".join(out).strip()


def _pack(ps: list[Piece], budget: int, exact: TokenCounter | None) -> list[tuple[int, int]]:
    """Greedy: [start, end) ranges of `ps`, each summing to at most `budget`."""
    groups: list[tuple[int, int]] = []
    start = 0
    while start < len(ps):
        end, total = start + 1, ps[start].tokens
        while end < len(ps) and total + ps[end].tokens <= budget:
            total += ps[end].tokens
            end += 1
        while end - start > 1 and end < len(ps) and ps[end - 1].heading:  # the heading goes with its text
            end -= 1
        if exact:  # a real tokenizer may count more at a join than the pieces did alone
            while end - start > 1 and exact(join(ps[start:end])) > budget:
                end -= 1
        groups.append((start, end))
        start = end
    return groups


def _even_tail(
    ps: list[Piece], groups: list[tuple[int, int]], budget: int, exact: TokenCounter | None
) -> None:
    """Move pieces from the second-to-last passage into the last while that evens them out."""
    if len(groups) < 2:
        return
    (a, b), (_, c) = groups[-2], groups[-1]
    prev, last = sum(p.tokens for p in ps[a:b]), sum(p.tokens for p in ps[b:c])
    while b - 1 > a and not ps[b - 2].heading:
        moved = ps[b - 1].tokens
        if last + moved > budget or abs((prev - moved) - (last + moved)) >= abs(prev - last):
            break
        if exact and exact(join(ps[b - 1 : c])) > budget:
            break
        b, prev, last = b - 1, prev - moved, last + moved
    groups[-2:] = [(a, b), (b, c)]


def chunk_text(text: str, budget: int, count_tokens: TokenCounter | None = None) -> list[str]:
    """`text` -> passages of at most `budget` tokens (see the module docstring); [] for blank text."""
    if budget < MIN_BUDGET:
        raise ValueError(f"chunk budget {budget}: must be at least {MIN_BUDGET} tokens")
    ps = list(pieces(text, budget, count_tokens or estimate))
    groups = _pack(ps, budget, count_tokens)
    _even_tail(ps, groups, budget, count_tokens)
    return [t for t in (join(ps[a:b]) for a, b in groups) if t]
