"""The E5-mistral query format, written once for every stage (shared/design.md, the query side).

A query is embedded as ``Instruct: {instruction}\\nQuery: {query}``; documents are embedded as they
are, with no instruction:

    format_query("Given a web search query, retrieve relevant passages", "what is rope?")
    -> "Instruct: Given a web search query, retrieve relevant passages\\nQuery: what is rope?"

synth mines with it, train trains with it and records it in the model dir, eval embeds with it.
What this module does NOT decide: whether a model takes instructions at all (train's
``--query-format``, eval's ``--use-instructions``, synth.mine's ``--query-format``).
"""

from __future__ import annotations

QUERY_TEMPLATE = "Instruct: {instruction}\nQuery: {query}"
# What a recorded prompt contains when it is in this format (e.g. a sentence-transformers "query" prompt).
INSTRUCT_MARKER = QUERY_TEMPLATE.split("{instruction}")[0].strip()  # "Instruct:"


def format_query(instruction: str, query: str) -> str:
    """The query-side text; documents are embedded as they are, without an instruction."""
    return QUERY_TEMPLATE.format(instruction=instruction, query=query)


def is_instruct_prompt(prompt: str) -> bool:
    """True for a prompt in this format, e.g. our exported "query" prompt ``format_query(instr, "")``."""
    return INSTRUCT_MARKER in prompt
