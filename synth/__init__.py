"""synth: two-step synthetic data generation for text-embedding training (the E5-mistral recipe)."""

__version__ = "0.1.0"
