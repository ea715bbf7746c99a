import sys

from synth.corpus.examples import main

sys.exit(main())
