"""The run modes of `synth.generate` beside its CLI: dry run, pools only, Ray, corpus setup."""
