"""Hard negatives mined from a dataset's own positives (`python -m synth.mine`, see `cli`).

`negatives` groups rows and mines; `neighbours` is the exact top-k search with the false-negative
guard; `embedder` wraps a sentence-transformers model as the encoder; `dirs` reads the input dir and
writes the mined copy; `report` builds stats.json's mining section, the card section and the summary.
"""
