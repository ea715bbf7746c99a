"""Settings for the whole suite, made before any test imports torch.

OpenMP threads that spin while they wait: on a 2-core box where the test's fake server, a child
process or a second torchrun rank also runs, two spinning torch threads starve the others. A 30-step
tiny-model fit took 26.2 s with the default policy and 1.4 s with PASSIVE on a loaded box (1.0 s with
one thread). Children inherit the environment, so torchrun ranks and CLI subprocesses wait passively too.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
