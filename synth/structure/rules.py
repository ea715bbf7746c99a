"""The rules that turn a document's structure into (query, positive) pairs, no LLM involved.

    title_body       the document's title -> the start of its body
    heading_section  a section heading -> the start of that section (subsections included)
    question_answer  a question (a heading or a paragraph of one sentence ending in "?", or "Q: ...")
                     -> the text that follows it, up to the next question or heading
    first_sentence   a prose paragraph's first sentence -> the rest of the paragraph
    last_sentence    a prose paragraph's last sentence -> the document's title and the paragraph before it

E5 (Wang et al., 2022) built its CCPairs from such structure (title-passage, question-answer, ...);
the first- and last-sentence rules are the inverse cloze task of Lee et al. (2019). The last sentence
of an abstract or a summary paragraph is usually its conclusion ("X lowers Y in adults."), the
shape of a claim or a finding a reader searches for: on SciFact's abstracts it is the weak pair
closest to the experts' claims. A positive is cut to the
first passage of `budget` tokens (`synth.corpus.chunk_text`), as a retriever reads passages.
A document's title is its own (a .md title, a `title` field) or else a heading opening its text.

    "Install\\n=======\\n\\nRun pip. It works.\\n\\nUsage\\n-----\\n\\nCall it from the shell.\\n"
    -> title_body ("Install", "Run pip. It works.\\n\\nUsage\\n\\nCall it ..."),
       heading_section ("Usage", "Call it from the shell."),
       first_sentence ("Run pip.", "It works.") if both halves are long enough (they are not, here)

Not handled: tables of contents, definition lists, captions; pairs across documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from synth.corpus import Document, chunk_text
from synth.structure.blocks import Block, parse_blocks, render

RULES = ("title_body", "heading_section", "question_answer", "first_sentence", "last_sentence")
DEFAULT_RULES = RULES[:4]  # synth.pairs' default; last_sentence is asked for (synth.adapt does)
INSTRUCTIONS = {  # the query side of training: Instruct: {instruction}\nQuery: {query}
    "title_body": "Given a document's title, retrieve the document's text.",
    "heading_section": "Given a section heading, retrieve the text of that section.",
    "question_answer": "Given a question, retrieve the passage that answers it.",
    "first_sentence": "Given a sentence, retrieve the text that follows it.",
    "last_sentence": "Given a statement, retrieve the passage that supports it.",
}
_QUESTION_PREFIX = re.compile(r"^(?:Q|Question)\s*[:.)]\s*", re.I)
_ANSWER_PREFIX = re.compile(r"^(?:A|Answer)\s*[:.)]\s*", re.I)
# A sentence ends at .!? (closing quotes/brackets allowed) before a space and a capital, digit or quote;
# common abbreviations and initials do not end one.
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)(?<!\bcf)(?<!\b[A-Z])[.!?][\"'”’)\]]*\s+(?=[A-Z0-9\"“‘(])"
)


@dataclass(frozen=True)
class Limits:
    budget: int = 256  # tokens of a positive (estimated): the first passage of that size
    min_query_words: int = 1
    max_query_words: int = 64
    min_positive_words: int = 8
    min_sentence_words: int = 5  # first_sentence: the sentence, and the rest at least twice this


@dataclass(frozen=True)
class Pair:
    rule: str
    query: str
    positive: str
    doc_id: str
    n: int  # the pair's index among its document's pairs


def words(text: str) -> int:
    return len(text.split())


def first_sentence(text: str) -> tuple[str, str]:
    """(first sentence, the rest) of an unwrapped paragraph; ("", text) when it has one sentence.

    >>> first_sentence("Lists are mutable, e.g. by append. Tuples are not.")
    ('Lists are mutable, e.g. by append.', 'Tuples are not.')
    """
    m = _SENTENCE_END.search(text)
    if not m:
        return "", text
    return text[: m.start() + len(m.group(0).rstrip())].strip(), text[m.end() :].strip()


def last_sentence(text: str) -> tuple[str, str]:
    """(the text before the last sentence, the last sentence) of an unwrapped paragraph; (text, "")
    when it has one sentence.

    >>> last_sentence("We gave mice X. Tumours shrank. X may treat cancer.")
    ('We gave mice X. Tumours shrank.', 'X may treat cancer.')
    """
    ends = list(_SENTENCE_END.finditer(text))
    if not ends:
        return text, ""
    m = ends[-1]
    return text[: m.start() + len(m.group(0).rstrip())].strip(), text[m.end() :].strip()


def _question(block: Block) -> str | None:
    if block.kind == "heading":
        return block.text if block.text.endswith("?") else None
    if block.kind != "prose":
        return None
    text = _QUESTION_PREFIX.sub("", block.text) if _QUESTION_PREFIX.match(block.text) else block.text
    if not text.endswith("?") or first_sentence(text)[0]:  # one sentence, a question
        return None
    return text


def _title(doc: Document, blocks: list[Block]) -> tuple[str, list[Block]]:
    if doc.title.strip():
        return doc.title.strip(), blocks
    if blocks and blocks[0].kind == "heading":
        return blocks[0].text, blocks[1:]
    return "", blocks


def document_pairs(
    doc: Document, rules: tuple[str, ...] = RULES, limits: Limits = Limits()
) -> Iterator[Pair]:
    """Every pair the `rules` find in `doc`, in document order per rule, before any filter but length."""
    title, blocks = _title(doc, parse_blocks(doc.text))
    found: list[tuple[str, str, str]] = []

    def cut(body: list[Block]) -> str:
        text = render(body).strip()
        return chunk_text(text, limits.budget)[0] if text else ""

    if "title_body" in rules and title:
        found.append(("title_body", title, cut(blocks)))
    for i, block in enumerate(blocks):
        question = _question(block)
        if block.kind == "heading":  # its section: up to the next heading of its level or above
            end = next(
                (
                    j
                    for j in range(i + 1, len(blocks))
                    if blocks[j].kind == "heading" and blocks[j].level <= block.level
                ),
                len(blocks),
            )
            if question:  # an answer ends where the next question starts
                end = next((j for j in range(i + 1, end) if _question(blocks[j])), end)
            rule = "question_answer" if question else "heading_section"
            if rule in rules:
                found.append((rule, block.text, cut(blocks[i + 1 : end])))
        elif question and "question_answer" in rules:
            end = next(
                (j for j in range(i + 1, len(blocks)) if blocks[j].kind == "heading" or _question(blocks[j])),
                len(blocks),
            )
            answer = blocks[i + 1 : end]
            if answer and answer[0].kind == "prose":  # "A: ..." loses its marker
                answer = [Block("prose", _ANSWER_PREFIX.sub("", answer[0].text)), *answer[1:]]
            found.append(("question_answer", question, cut(answer)))
        elif block.kind == "prose":
            if "first_sentence" in rules:
                head, rest = first_sentence(block.text)
                if words(head) >= limits.min_sentence_words and words(rest) >= 2 * limits.min_sentence_words:
                    found.append(("first_sentence", head, chunk_text(rest, limits.budget)[0]))
            if "last_sentence" in rules:
                before, tail = last_sentence(block.text)
                if (
                    words(tail) >= limits.min_sentence_words
                    and words(before) >= 2 * limits.min_sentence_words
                ):
                    # the passage as a retriever sees it: title, then text (cut from the front, so the
                    # part that led to the conclusion stays)
                    context = f"{title} {before}" if title else before
                    found.append(("last_sentence", tail, chunk_text(context, limits.budget)[0]))
    n = 0
    for rule, query, positive in found:
        if not limits.min_query_words <= words(query) <= limits.max_query_words:
            continue
        if words(positive) < limits.min_positive_words:
            continue
        yield Pair(rule, query, positive, doc.id, n)
        n += 1
