"""Personalized passkey retrieval (Wang et al. 2024, section 5): does a long document's embedding
still carry one sentence buried in it?

For each length, ``num_docs`` documents of filler text of about ``length`` tokens each hide one
person's passkey at a random position; the query for a person asks for their passkey; a hit is
when that person's document is the top-1 by cosine among all ``num_docs``. Data is deterministic:
``random.Random(f"{seed}:{length}")`` picks names, passkeys and positions, so every model and every
``--rope-theta`` sees the same documents.

    build(64, num_docs=2, seed=0, count_tokens=lambda s: len(s.split()))
    -> docs like "The grass is green. ... Jane Ortiz's passkey is 51703. Remember it. 51703 is the
       passkey of Jane Ortiz. The sun is yellow. ...", queries like "what is Jane Ortiz's passkey?"

Not handled: multi-needle variants, lengths beyond what the model's positions allow (they run,
and show the collapse).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.encoder import TextEncoder
from eval.search import search

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
         "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Aiko",
         "Priya", "Olu", "Mateo", "Ingrid", "Wei"]  # fmt: skip
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Tanaka", "Okafor", "Novak", "Ortiz"]  # fmt: skip
FILLER = [
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
]
NEEDLE = "{name}'s passkey is {passkey}. Remember it. {passkey} is the passkey of {name}."
QUERY = "what is {name}'s passkey?"
INSTRUCTION = "Given a question about a person's passkey, retrieve the document that contains that passkey"


@dataclass(frozen=True)
class PasskeySet:
    """One length's data: ``answers[i]`` is the index in ``docs`` of the document for ``queries[i]``."""

    length: int
    docs: list[str]
    queries: list[str]
    answers: list[int]
    names: list[str]
    passkeys: list[str]


def build(length: int, num_docs: int, seed: int, count_tokens: Callable[[str], int]) -> PasskeySet:
    """Documents of at most ``length`` tokens (as ``count_tokens`` counts them), one needle each."""
    assert num_docs <= len(FIRST) * len(LAST), f"at most {len(FIRST) * len(LAST)} distinct names"
    rng = random.Random(f"{seed}:{length}")
    pairs = rng.sample([(f, last) for f in FIRST for last in LAST], num_docs)
    names = [f"{f} {last}" for f, last in pairs]
    passkeys = [str(rng.randint(10000, 99999)) for _ in names]
    unit = count_tokens(" ".join(FILLER)) / len(FILLER)  # tokens per filler sentence, on average
    docs = []
    for name, key in zip(names, passkeys, strict=True):
        needle = NEEDLE.format(name=name, passkey=key)
        n = max(0, int((length - count_tokens(needle)) / unit))
        pos = rng.randint(0, n)
        while True:
            sentences = [FILLER[i % len(FILLER)] for i in range(n)]
            doc = " ".join(sentences[:pos] + [needle] + sentences[pos:])
            if count_tokens(doc) <= length or n == 0:
                break
            n, pos = n - 1, min(pos, n - 1)  # the estimate overshot: drop one filler sentence
        docs.append(doc)
    queries = [QUERY.format(name=name) for name in names]
    order = list(range(num_docs))
    rng.shuffle(order)  # queries in another order than documents, so position says nothing
    return PasskeySet(length, docs, [queries[i] for i in order], order, names, passkeys)


def token_counter(tokenizer) -> Callable[[str], int]:
    """Tokens of a text as the model's tokenizer counts them, special tokens excluded."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def top1_accuracy(encoder: TextEncoder, data: PasskeySet, instruction: str | None) -> float:
    """Share of queries whose own document is the nearest one by cosine."""
    doc_emb = encoder.encode(data.docs)  # (N, H)
    q_emb = encoder.encode(data.queries, instruction=instruction)  # (N, H)
    hits = search(q_emb, doc_emb, [str(i) for i in range(len(data.docs))], k=1)
    return float(np.mean([int(next(iter(h))) == a for h, a in zip(hits, data.answers, strict=True)]))


def table(lengths: Sequence[int], runs: dict[str, dict[int, float]]) -> str:
    """Markdown: one row per length, one column per run (model as is, with --rope-theta)."""
    names = list(runs)
    lines = ["| length | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    lines += [f"| {n} | " + " | ".join(f"{runs[r][n]:.2f}" for r in names) + " |" for n in lengths]
    return "\n".join(lines)


def plot(lengths: Sequence[int], runs: dict[str, dict[int, float]], path: Path, title: str) -> None:
    """Accuracy against length (log2 axis), one line per run, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, acc in runs.items():
        ax.plot(list(lengths), [acc[n] for n in lengths], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(lengths), [str(n) for n in lengths])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("document length (tokens)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
