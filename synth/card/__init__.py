"""The dataset card of a dataset dir: what it shows (`values`), its figures (`plots`), and rendering
it from data_cards/ (`render`). `python -m synth.card DIR` re-renders an existing dir's card."""
