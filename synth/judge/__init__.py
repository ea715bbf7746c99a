"""`python -m synth.judge`: an LLM judge over a dataset dir (score or relabel), journaled and budgeted."""
