"""Weak (query, positive) pairs from the structure of the user's documents (`python -m synth.pairs`).

`blocks` reads a document into headings, prose, lists and code; `rules` finds the pairs (title ->
body, heading -> section, question -> answer, first sentence -> rest); `build` turns them into rows
of the dataset contract (common.rows) and filters them as synthetic rows are filtered: language
check (synth.checks.langcheck), exact and near dedup (synth.checks.dedup), decontamination (synth.checks.decontam).
"""
