"""Test doubles that ship with the package: an OpenAI-compatible fake LLM server on loopback."""
