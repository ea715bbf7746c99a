"""The dataclass command line now lives in `common.cli`; this name stays for `synth.adapt`, which
still imports it from here."""

from common.cli import OneLineParser, build_parser, fail, parse

__all__ = ["OneLineParser", "build_parser", "fail", "parse"]
