"""Evaluation of embedding models: MTEB, offline retrieval/STS on local files, passkey retrieval.

Stage contract: reads a model dir written by ``train`` (or any sentence-transformers model) and
writes results JSON. ``eval`` imports :mod:`train.pooling`, :mod:`train.inputs` and
:func:`train.modeling.embed` so an embedding means the same thing here as in training; ``train``
never imports ``eval`` and neither imports ``synth``.
"""
