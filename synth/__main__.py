import sys

from synth.generate import cli

sys.exit(cli())
