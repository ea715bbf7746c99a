"""LLM backends behind one small protocol (`synth.backends.base.Backend`)."""
