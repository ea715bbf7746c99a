"""Examples -> the two token batches of one contrastive step.

    queries: B texts "Instruct: {instruction}\\nQuery: {query}"
    docs:    B positives (row i's positive at index i) followed by the M <= B hard negatives of the
             rows that have one, so the positive of query i is always document i.

EOS is appended by :func:`train.inputs.tokenize`, never by the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from train.data import Example
from train.inputs import format_query, tokenize


@dataclass
class ContrastiveBatch:
    queries: dict[str, Tensor]  # input_ids / attention_mask, (B, Tq)
    docs: dict[str, Tensor]  # input_ids / attention_mask, (B + M, Td)
    n_pos: int  # B: docs[:B] are the positives, docs[B:] the hard negatives

    @property
    def tokens(self) -> int:
        """Real (unpadded) tokens in the step, for throughput."""
        return int(self.queries["attention_mask"].sum() + self.docs["attention_mask"].sum())


class Collator:
    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, examples: list[Example]) -> ContrastiveBatch:
        queries = [format_query(e.instruction, e.query) for e in examples]
        docs = [e.positive for e in examples] + [e.negative for e in examples if e.negative is not None]
        return ContrastiveBatch(
            queries=tokenize(self.tokenizer, queries, self.max_length),
            docs=tokenize(self.tokenizer, docs, self.max_length),
            n_pos=len(examples),
        )
