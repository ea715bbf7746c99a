"""`python -m synth.publish`: upload a dataset dir to the Hub; the command lives in `synth.card.publish`."""

import sys

from synth.card.publish import cli

if __name__ == "__main__":
    sys.exit(cli())
