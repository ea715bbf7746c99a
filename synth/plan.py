"""The deterministic plan of a run: what step-2 call number i asks for.

Call i draws its task type and knobs from `call_rng(seed, "gen", i)`. Asymmetric types take their
task definition from the type's pool of brainstormed tasks: the j-th call of a type uses task slot
j // examples_per_task, so each brainstormed task is reused for a few examples (about 3 in the
paper: 150k tasks for 500k examples). Because nothing here depends on timing, a resumed or repeated
run asks exactly the same questions.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synth.knobs import WeightedChoice, call_rng
from synth.pricing import tokens_per_word
from synth.render import render, template_hash
from synth.tasks import TASK_TYPES

if TYPE_CHECKING:
    from synth.corpus import Passage
    from synth.grounding import Grounding

MAX_TOKENS_FLOOR = 512
JSON_OVERHEAD_TOKENS = 64


@dataclass(frozen=True)
class PlannedCall:
    index: int
    task_type: str
    knobs: dict
    slot: int | None  # task slot in the brainstorm pool; None for types that do not brainstorm
    passages: tuple[str, ...] = ()  # corpus passage ids a grounded call reads; they are its positives


class Plan:
    def __init__(
        self,
        seed: int,
        task_mix: dict[str, float],
        languages: dict[str, float],
        examples_per_task: int,
        grounding: Grounding | None = None,
        corpus: Mapping[str, Passage] | None = None,
    ):
        self.seed = seed
        self.types = WeightedChoice(task_mix)
        self.languages = WeightedChoice(languages)
        self.examples_per_task = examples_per_task
        self.grounding = grounding
        self.corpus = corpus or {}  # passage id -> Passage, for grounded prompts and rows
        self._calls: list[PlannedCall] = []
        self._per_type: Counter[str] = Counter()

    def __getitem__(self, index: int) -> PlannedCall:
        while len(self._calls) <= index:
            i = len(self._calls)
            rng = call_rng(self.seed, "gen", i)
            task_type = self.types(rng)
            spec = TASK_TYPES[task_type]
            knobs = spec.sample_knobs(rng, self.languages)
            j = self._per_type[task_type]  # this call is the j-th of its type
            slot = j // self.examples_per_task if spec.instruction == "brainstorm" else None
            passages = self.grounding.passages_for(j, spec.hops(knobs)) if spec.passages else ()
            self._per_type[task_type] += 1
            self._calls.append(PlannedCall(i, task_type, knobs, slot, passages))
        return self._calls[index]


def template_variables(call: PlannedCall, task: str | None, passages: Sequence[Passage] = ()) -> dict:
    variables = TASK_TYPES[call.task_type].template_variables(call.knobs)
    if task is not None:
        variables["task"] = task  # LLM text: inserted as a value, never rendered as template code
    if passages:  # the user's text: inserted as values too
        variables.update(
            passage=passages[0].text, title=passages[0].title, passages=[p.text for p in passages]
        )
    return variables


def generate_prompt(call: PlannedCall, task: str | None, passages: Sequence[Passage] = ()) -> str:
    return render(TASK_TYPES[call.task_type].generate_template, **template_variables(call, task, passages))


def brainstorm_prompt(task_type: str) -> str:
    return render(TASK_TYPES[task_type].brainstorm_template)


def expected_completion_words(task_type: str, knobs: dict) -> float:
    """What a compliant answer is likely to hold, in words, from the declared lengths."""
    return TASK_TYPES[task_type].expected_words(knobs)


def completion_token_estimate(task_type: str, knobs: dict) -> int:
    languages = [knobs["language"], knobs.get("target_language", knobs["language"])]
    tpw = max(tokens_per_word(code) for code in languages)
    return int(expected_completion_words(task_type, knobs) * tpw) + JSON_OVERHEAD_TOKENS


def max_tokens_for(task_type: str, knobs: dict, cap: int) -> int:
    """Room for twice the expected answer, so long documents are never cut; truncated answers are
    re-asked with double this."""
    return min(cap, max(MAX_TOKENS_FLOOR, 2 * completion_token_estimate(task_type, knobs)))


def brainstorm_max_tokens(cap: int) -> int:
    return min(cap, 2048)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def template_hashes() -> dict[str, str]:
    names = {t.generate_template for t in TASK_TYPES.values()}
    names |= {t.brainstorm_template for t in TASK_TYPES.values() if t.brainstorm_template}
    return {name: template_hash(name) for name in sorted(names)}
