"""Pieces every stage uses, so that no stage imports a later one for them: the dataclass command
line (`cli`), line-numbered JSONL reading (`jsonl`) and the E5 query format (`query_format`).
Nothing here imports synth, train or eval."""
