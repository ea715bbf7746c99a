import sys

from synth.judge.cli import cli

sys.exit(cli())
