"""Contrastive LoRA training of LLM embedders (the E5-mistral recipe).

Stage contract: reads a synth dataset dir from disk (``DIR/data/*.parquet|jsonl``) and writes a
model dir that ``sentence_transformers.SentenceTransformer(DIR)`` loads unchanged. It never imports
``synth`` or ``eval`` (the row contract it reads is :mod:`common.rows`); ``eval`` imports only
:mod:`train.embedder` (loading, tokenizing, pooling, embedding) so both stages embed text the same way.
"""
