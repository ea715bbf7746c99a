"""Text -> token ids in the E5-mistral format.

Query side: :func:`common.query_format.format_query` (``--query-format instruct``, the paper's) or
the query alone (``plain``: no instruction, e.g. to keep a base model trained without instructions,
such as all-MiniLM, in its own format); document side: the text alone.
Every sequence ends in EOS, appended here rather than by the tokenizer: some tokenizers never add
it and, with transformers 5, a tokenizer may silently drop it, in which case last-token pooling
would read an ordinary word. Truncation keeps ``max_length - 1`` tokens so the EOS is never cut:

    max_length=4, "a b c d e" -> [bos, a, b, eos]   (BOS kept when the tokenizer adds one)

Encoder tokenizers work the same way with their own markers: [CLS] a b [SEP] when EOS is [SEP].
"""

from __future__ import annotations

import torch
from torch import Tensor

from common.query_format import format_query

QUERY_FORMATS = ("instruct", "plain")  # train.config keeps a literal copy (a test keeps them equal)


def query_text(instruction: str, query: str, query_format: str = "instruct") -> str:
    """The query side in ``query_format``: "instruct" -> :func:`format_query`, "plain" -> the query alone."""
    if query_format == "instruct":
        return format_query(instruction, query)
    if query_format == "plain":
        return query
    raise ValueError(f"unknown query format {query_format!r}; valid: {', '.join(QUERY_FORMATS)}")


def leading_special(tokenizer) -> list[int]:
    """The special token the tokenizer itself puts first (BOS for Llama/Mistral, [CLS] for BERT), or []."""
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    first = with_special[:1]
    if (
        first
        and first != plain[:1]
        and first[0] in tokenizer.all_special_ids
        and first[0] != tokenizer.eos_token_id
    ):
        return first
    return []


def check_tokenizer(tokenizer) -> None:
    """Raise ValueError when the tokenizer cannot produce our inputs (no EOS token)."""
    if tokenizer.eos_token_id is None:
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ValueError(
            f"tokenizer {name!r} has no EOS token; last-token pooling needs one (set tokenizer.eos_token)"
        )


def tokenize(tokenizer, texts: list[str], max_length: int) -> dict[str, Tensor]:
    """Tokenize, truncate to ``max_length - 1``, append EOS, pad on ``tokenizer.padding_side``.

    Returns ``input_ids`` and ``attention_mask``, both (B, T) with T <= max_length.
    """
    check_tokenizer(tokenizer)
    if not texts:
        raise ValueError("tokenize() needs at least one text")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (room for one token and EOS), got {max_length}")
    eos = tokenizer.eos_token_id
    prefix = leading_special(tokenizer)
    body = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    seqs = [(prefix + ids)[: max_length - 1] + [eos] for ids in body]
    width = max(len(s) for s in seqs)
    # A tokenizer without a pad token pads with EOS; the mask, not the id, says what is padding.
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    left = getattr(tokenizer, "padding_side", "right") == "left"
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    for i, s in enumerate(seqs):
        span = slice(width - len(s), width) if left else slice(0, len(s))
        ids[i, span] = torch.tensor(s, dtype=torch.long)
        mask[i, span] = 1
    return {"input_ids": ids, "attention_mask": mask}
