"""Contrastive LoRA training of LLM embedders (the E5-mistral recipe).

Stage contract: reads a synth dataset dir from disk (``DIR/data/*.parquet|jsonl``) and writes a
model dir that ``sentence_transformers.SentenceTransformer(DIR)`` loads unchanged. It never imports
``synth`` or ``eval``; ``eval`` imports :mod:`train.pooling`, :mod:`train.inputs` and
:func:`train.modeling.embed` so both stages embed text the same way.
"""
