"""Examples -> the two token batches of one contrastive step.

    queries: B texts in ``--query-format`` ("Instruct: {instruction}\\nQuery: {query}" or the query alone)
    docs:    B positives (row i's positive at index i) followed by the hard negatives each row
             brings (``negatives[i]``: K or fewer per row, decided by the sampler on the global batch,
             see :mod:`train.negatives`), row by row, so the positive of query i is always document i
             and there are B + M <= B * (1 + K) documents.

Without ``negatives`` each row brings its own ``negative``, if any. EOS is appended by
:func:`train.inputs.tokenize`, never by the tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from train.data import Example
from train.inputs import query_text, tokenize


@dataclass
class ContrastiveBatch:
    queries: dict[str, Tensor]  # input_ids / attention_mask, (B, Tq)
    docs: dict[str, Tensor]  # input_ids / attention_mask, (B + M, Td)
    n_pos: int  # B: docs[:B] are the positives, docs[B:] the hard negatives
    # teacher losses: (B, C) each query's own candidates as indices into the GLOBAL documents (-1
    # pads) and their teacher scores; set by the trainer, which sees the global batch
    own: Tensor | None = None
    teacher: Tensor | None = None

    @property
    def tokens(self) -> int:
        """Real (unpadded) tokens in the step, for throughput."""
        return int(self.queries["attention_mask"].sum() + self.docs["attention_mask"].sum())

    @property
    def n_docs(self) -> int:
        """B + M: positives plus hard negatives."""
        return int(self.docs["input_ids"].shape[0])


class Collator:
    def __init__(self, tokenizer, max_length: int, query_format: str = "instruct") -> None:
        self.tokenizer, self.max_length, self.query_format = tokenizer, max_length, query_format
        query_text("", "", query_format)  # an unknown format fails here, not at the first step

    def __call__(
        self, examples: list[Example], negatives: Sequence[Sequence[str]] | None = None
    ) -> ContrastiveBatch:
        if negatives is None:
            negatives = [(e.negative,) if e.negative is not None else () for e in examples]
        assert len(negatives) == len(examples), f"{len(negatives)} negative lists for {len(examples)} rows"
        queries = [query_text(e.instruction, e.query, self.query_format) for e in examples]
        docs = [e.positive for e in examples] + [n for negs in negatives for n in negs]
        return ContrastiveBatch(
            queries=tokenize(self.tokenizer, queries, self.max_length),
            docs=tokenize(self.tokenizer, docs, self.max_length),
            n_pos=len(examples),
        )
