"""Domain adaptation from your own documents: `python -m synth.adapt` runs corpus -> generate ->
(judge) -> split -> mine -> train -> evaluate -> report, each stage resumable and runnable alone
(see `stages`). Stages of later packages run as child processes, so synth imports none of them."""
