"""The user's own documents as passages: read, chunk, split by document, write for evaluation.

    corpus = load_corpus(Path("docs/"), chunk_tokens=256)       # read.py + chunk.py + tokens.py
    save_passages(corpus, run / "passages.jsonl")               # passages.py: later stages share it
    train_docs, held_docs = split_documents(corpus, 0.2, seed)  # split.py: by document, seeded hash
    write_beir(run / "eval", corpus.passages, queries, qrels)   # beir.py: what eval.retrieval reads

Modules: `read` (input layouts -> documents), `chunk` (a document -> passages within a token budget),
`tokens` (the token estimate, replaceable by a real tokenizer), `passages` (Passage, Corpus,
passages.jsonl), `split` (train / held-out documents), `beir` (the held-out BEIR dir).
"""

from synth.corpus.beir import write_beir
from synth.corpus.chunk import MIN_BUDGET, chunk_text
from synth.corpus.passages import Corpus, CorpusError, Passage, load_passages, save_passages
from synth.corpus.read import PASSAGES_FILE, Document, load_corpus, load_documents
from synth.corpus.split import Side, held_out_among, side_of, split_documents
from synth.corpus.tokens import TokenCounter, estimate_tokens

__all__ = [
    "MIN_BUDGET",
    "PASSAGES_FILE",
    "Corpus",
    "CorpusError",
    "Document",
    "Passage",
    "Side",
    "TokenCounter",
    "chunk_text",
    "estimate_tokens",
    "held_out_among",
    "load_corpus",
    "load_documents",
    "load_passages",
    "save_passages",
    "side_of",
    "split_documents",
    "write_beir",
]
