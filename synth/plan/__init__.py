"""What a run asks for: task types, knobs, languages, weights, the prompts rendered from them, prices."""
