"""`python -m synth.mine`: hard negatives for a dataset dir; the command lives in `synth.mining.cli`."""

import sys

from synth.mining.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
