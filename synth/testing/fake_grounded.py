"""How the fake LLM answers prompts grounded in corpus passages, and judge prompts.

A grounded answer carries a real signal: its query is built from a sentence of the passage it was
shown, so an embedder trained on these rows learns something true about the corpus. Like a domain's
users, the query says some words in the domain's own jargon: every word of five letters or more is,
for about half the words (always the same half), replaced by a fixed alias (`alias`). A general
model does not know the aliases; a model fine-tuned on the rows learns them, which is what makes
held-out retrieval rise after training in the adapt tests.

The judge scores a (query, passage) pair 1-5 by the share of the query's words the passage holds
(as they are, or as aliases), and, asked to pick the best of several passages, picks the one holding most.
A query holding the word "garbled" (`GARBLED`) gets a cut-off JSON answer every time it is judged.

    passage "The turbine blades are inspected every spring for cracks." ->
    query   "turbine kalomis inspected every spring"  (blades -> kalomis)
"""

from __future__ import annotations

import hashlib
import json
import random
import re

_PASSAGE = re.compile(r"<passage[^>]*>\n(.*?)\n</passage>", re.DOTALL)
_QUERY = re.compile(r"<query>\n(.*?)\n</query>", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"\w+", re.UNICODE)
GARBLED = "garbled"  # a query with this word gets an unreadable judge answer
_SYLLABLES = ("ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "qui", "ne", "bar", "zo", "fen", "li", "mar",
              "tu", "gra", "pe", "sol", "vin", "ha", "ost", "ri", "cal")  # fmt: skip


def _digest(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.lower().encode(), digest_size=8).digest(), "big")


def is_jargon(word: str) -> bool:
    return len(word) >= 5 and _digest(word) % 2 == 0


def alias(word: str) -> str:
    """The domain's name for `word`: a fixed pseudo-word (three syllables from its hash)."""
    h = _digest(word)
    return "".join(_SYLLABLES[(h >> (8 * i)) % len(_SYLLABLES)] for i in range(3))


def jargon(words: list[str]) -> list[str]:
    return [alias(w) if is_jargon(w) else w.lower() for w in words]


def passages_in(prompt: str) -> list[str]:
    return _PASSAGE.findall(prompt)


def _sentence_words(passage: str, rng: random.Random) -> list[str]:
    sentences = [s for s in _SENTENCE.findall(passage) if len(_WORD.findall(s)) >= 4] or [passage]
    words = _WORD.findall(rng.choice(sentences))
    n = min(len(words), rng.randint(4, 7))
    start = rng.randrange(len(words) - n + 1)
    return words[start : start + n]


_SEVERAL = re.compile(r'"queries": a list of (\d+) strings')


def grounded_answer(
    prompt: str, rng: random.Random, rate_short_negative: float = 0.0, rate_copied_query: float = 0.0
) -> dict:
    """A grounded_query or multi_hop answer to `prompt`, keyed as the prompt asks; at
    `rate_short_negative` the hard negative is three words, as a weak model writes it. Asked for
    several queries, each comes from its own sentence draw; at `rate_copied_query` the last one
    copies a sentence of the passage, as a weak model does."""
    passages = passages_in(prompt)
    if several := _SEVERAL.search(prompt):
        queries = [" ".join(jargon(_sentence_words(passages[0], rng))) for _ in range(int(several[1]))]
        if rate_copied_query and rng.random() < rate_copied_query:
            queries[-1] = max(_SENTENCE.findall(passages[0]), key=len).strip()
        return {"queries": queries}
    words = [w for p in passages for w in _sentence_words(p, rng)]
    topic = max(words, key=len).lower()
    obj = {"query": " ".join(jargon(words))}
    if '"task"' in prompt:  # multi_hop asks for its instruction; grounded_query's is fixed
        obj["task"] = f"Given a question about {topic}, retrieve passages that answer it."
    if '"hard_negative"' in prompt:
        shuffled = _WORD.findall(passages[0])
        rng.shuffle(shuffled)
        obj["hard_negative"] = " ".join(shuffled[: max(8, int(len(shuffled) * 0.8))])
        if rate_short_negative and rng.random() < rate_short_negative:  # no draw otherwise: same answers
            obj["hard_negative"] = " ".join(shuffled[:3])
    return obj


def _overlap(query: str, passage: str) -> float:
    """Share of the query's words the passage holds, in its own words or in the domain's aliases."""
    words = {w.lower() for w in _WORD.findall(query)}
    held = set(jargon(_WORD.findall(passage))) | {w.lower() for w in _WORD.findall(passage)}
    return len(words & held) / max(1, len(words))


def judge_answer(prompt: str) -> str:
    """Scores for one (query, passage), or the best of several passages."""
    query = (_QUERY.findall(prompt) or [""])[0]
    if GARBLED in query.split():  # a judge that cannot keep to the format, however often asked
        return '{"relevance": 4, "answerability": '
    passages = passages_in(prompt)
    if '"best"' in prompt:
        best = max(range(len(passages)), key=lambda i: (_overlap(query, passages[i]), -i))
        return json.dumps({"best": best + 1})
    score = 1 + round(4 * _overlap(query, passages[0]))
    return json.dumps({"relevance": score, "answerability": score, "clarity": 4})
