"""The deterministic plan of a run: what step-2 call number i asks for.

Call i draws its task type and knobs from `call_rng(seed, "gen", i)`. Asymmetric types take their
task definition from the type's pool of brainstormed tasks: the j-th call of a type uses task slot
j // examples_per_task, so each brainstormed task is reused for a few examples (about 3 in the
paper: 150k tasks for 500k examples). Because nothing here depends on timing, a resumed or repeated
run asks exactly the same questions.

Call i's slot (and a grounded call's passages) depends on how many calls of its type come before it,
so computing call i walks the types of the calls before it (about 7 us each, a type being the first
draw of its call's generator). The plan keeps per-type counts every CHECKPOINT calls and a small
cache, never every call: memory stays flat over 100M calls, and a shard (`synth.run.shards`) that owns
every N-th call gets exactly the calls an unsharded run would make at those indices.

    plan[5] -> walk the types of calls 0..4 (from the checkpoint at 0) -> call 5 is the 2nd sts call
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synth.checks.validate import json_schema, query_max_chars
from synth.plan.knobs import WeightedChoice, call_rng
from synth.plan.pricing import tokens_per_word
from synth.plan.render import render, template_hash
from synth.plan.tasks import TASK_TYPES

if TYPE_CHECKING:
    from synth.corpus import Passage
    from synth.plan.grounding import Grounding

MAX_TOKENS_FLOOR = 512
# The floor of an answer with short fields only (a grounded query): a weak model's loop runs to
# max_tokens, and 512 tokens of "2021-01-18 2021-01-18 ..." cost SmolLM2-135M 76% of its tokens.
SHORT_ANSWER_FLOOR = 160
JSON_OVERHEAD_TOKENS = 64


@dataclass(frozen=True)
class PlannedCall:
    index: int
    task_type: str
    knobs: dict
    slot: int | None  # task slot in the brainstorm pool; None for types that do not brainstorm
    passages: tuple[str, ...] = ()  # corpus passage ids a grounded call reads; they are its positives


CHECKPOINT = 1024  # calls between saved per-type counts: a random access walks at most this many types
CACHE = 4096  # calls kept once built: the runner asks for the calls around its fold cursor again


class Plan:
    def __init__(
        self,
        seed: int,
        task_mix: dict[str, float],
        languages: dict[str, float],
        examples_per_task: int,
        grounding: Grounding | None = None,
        corpus: Mapping[str, Passage] | None = None,
        example_queries: Sequence[str] = (),
        llm_negatives: bool = True,
        queries_per_call: int = 1,
    ):
        self.seed = seed
        self.types = WeightedChoice(task_mix)
        self.languages = WeightedChoice(languages)
        self.examples_per_task = examples_per_task
        self.grounding = grounding
        self.corpus = corpus or {}  # passage id -> Passage, for grounded prompts and rows
        self.example_queries = tuple(example_queries)  # the user's queries, shown in grounded prompts
        self.max_query_chars = query_max_chars(self.example_queries)
        # False: the LLM is not asked for a type's optional negative (mined negatives replace it), which
        # is most of what a grounded call decodes.
        self.llm_negatives = llm_negatives
        # Queries one call asks of its passage, for the types that allow several (`several_queries`).
        self.queries_per_call = queries_per_call
        self._names = list(task_mix)
        self._position = {name: i for i, name in enumerate(self._names)}
        self._checkpoints: list[tuple[int, ...]] = [
            (0,) * len(self._names)
        ]  # counts before call k*CHECKPOINT
        # Two walkers (next index, per-type counts before it): the frontier, which saves checkpoints as
        # it passes them, and a reader for indices below it, so ascending reads cost O(1) each.
        self._frontier: tuple[int, list[int]] = (0, [0] * len(self._names))
        self._reader: tuple[int, list[int]] = (0, [0] * len(self._names))
        self._cache: dict[int, PlannedCall] = {}

    def type_of(self, index: int) -> str:
        return self.types(call_rng(self.seed, "gen", index))

    def counts_before(self, index: int) -> dict[str, int]:
        """Calls of each type with an index below `index`."""
        return dict(zip(self._names, self._counts(index), strict=True))

    def __getitem__(self, index: int) -> PlannedCall:
        call = self._cache.get(index)
        if call is None:
            call = self._build(index, self._counts(index))
            at, counts = self._frontier
            if at == index:  # the frontier steps over the call just built without drawing its type again
                counts[self._position[call.task_type]] += 1
                self._frontier = (at + 1, counts)
                self._save(at + 1, counts)
            if len(self._cache) >= CACHE:
                del self._cache[next(iter(self._cache))]  # the oldest: calls are asked for in rising order
            self._cache[index] = call
        return call

    def _build(self, index: int, counts: list[int]) -> PlannedCall:
        rng = call_rng(self.seed, "gen", index)
        task_type = self.types(rng)
        spec = TASK_TYPES[task_type]
        knobs = spec.sample_knobs(rng, self.languages)
        j = counts[self._position[task_type]]  # this call is the j-th of its type
        slot = j // self.examples_per_task if spec.instruction == "brainstorm" else None
        passages = self.grounding.passages_for(j, spec.hops(knobs)) if spec.passages else ()
        return PlannedCall(index, task_type, knobs, slot, passages)

    def _counts(self, index: int) -> list[int]:
        """Per-type counts of the calls before `index` (a copy)."""
        at, counts = self._frontier
        if index >= at:
            self._frontier = self._walk(at, counts, index, save=True)
            return list(self._frontier[1])
        at, counts = self._reader
        if not at <= index < at + CHECKPOINT:  # restart from the checkpoint below `index`
            k = index // CHECKPOINT
            at, counts = k * CHECKPOINT, list(self._checkpoints[k])
        self._reader = self._walk(at, counts, index, save=False)
        return list(self._reader[1])

    def _walk(self, at: int, counts: list[int], to: int, save: bool) -> tuple[int, list[int]]:
        counts = list(counts)
        for i in range(at, to):
            counts[self._position[self.type_of(i)]] += 1
            if save:
                self._save(i + 1, counts)
        return to, counts

    # ---- what one call asks, as this run asks it ----------------------------------------------------
    def queries(self, call: PlannedCall) -> int:
        """How many queries `call` asks of its passage: each a row of its own."""
        return self.queries_per_call if TASK_TYPES[call.task_type].several_queries else 1

    def prompt(self, call: PlannedCall, task: str | None) -> str:
        passages = [self.corpus[p] for p in call.passages]
        return generate_prompt(
            call, task, passages, self.example_queries, self.llm_negatives, self.queries(call)
        )

    def schema(self, call: PlannedCall, string_lengths: bool = False) -> dict:
        """`string_lengths`: with a maxLength on each query string (for an engine that honours it)."""
        bound = self.max_query_chars if string_lengths else None
        return json_schema(call.task_type, self.llm_negatives, self.queries(call), bound)

    def max_tokens(self, call: PlannedCall, cap: int) -> int:
        return max_tokens_for(call.task_type, call.knobs, cap, self.llm_negatives, self.queries(call))

    def completion_estimate(self, call: PlannedCall) -> int:
        return completion_token_estimate(call.task_type, call.knobs, self.llm_negatives, self.queries(call))

    def _save(self, index: int, counts: list[int]) -> None:
        """Keep the counts before `index` when it starts a checkpoint the frontier had not reached."""
        if index % CHECKPOINT == 0 and index // CHECKPOINT == len(self._checkpoints):
            self._checkpoints.append(tuple(counts))


def generate_prompt(
    call: PlannedCall,
    task: str | None,
    passages: Sequence[Passage] = (),
    examples: Sequence[str] = (),
    negative: bool = True,
    queries: int = 1,
) -> str:
    variables = TASK_TYPES[call.task_type].template_variables(call.knobs)
    variables["user_queries"] = list(examples)  # the user's queries: values, never template code
    variables["ask_negative"] = negative  # whether a type's optional negative is asked for
    variables["num_queries"] = queries  # queries asked of the passage (several: {"queries": [...]})
    if task is not None:
        variables["task"] = task  # LLM text: inserted as a value, never rendered as template code
    if passages:  # the user's text: inserted as values too
        variables.update(
            passage=passages[0].text, title=passages[0].title, passages=[p.text for p in passages]
        )
    return render(TASK_TYPES[call.task_type].generate_template, **variables)


def brainstorm_prompt(task_type: str) -> str:
    spec = TASK_TYPES[task_type]
    return render(spec.brainstorm_template, examples=spec.brainstorm_examples)


def expected_completion_words(task_type: str, knobs: dict, optional: bool = True, queries: int = 1) -> float:
    """What a compliant answer is likely to hold, in words, from the declared lengths (`optional`:
    whether the optional fields are asked for; `queries`: how many queries)."""
    return TASK_TYPES[task_type].expected_words(knobs, optional, queries)


def completion_token_estimate(task_type: str, knobs: dict, optional: bool = True, queries: int = 1) -> int:
    languages = [knobs["language"], knobs.get("target_language", knobs["language"])]
    tpw = max(tokens_per_word(code) for code in languages)
    words = expected_completion_words(task_type, knobs, optional, queries)
    return int(words * tpw) + JSON_OVERHEAD_TOKENS


def max_tokens_for(task_type: str, knobs: dict, cap: int, optional: bool = True, queries: int = 1) -> int:
    """Room for twice the expected answer, so long documents are never cut (a truncated answer is
    re-asked with double this). An answer of several queries gets a quarter more than expected, and
    its re-ask the same: a cut one keeps the queries it finished, so more room buys only more of a
    runaway string."""
    estimate = completion_token_estimate(task_type, knobs, optional, queries)
    if queries > 1:
        # SmolLM2-135M, 7 runs of 40-100 rows: half of all completion tokens went to answers cut at
        # 2x (224 for 3 queries); replayed at 140, 8% more kept rows for the same decoding time.
        # Qwen2.5-1.5B's longest of 102 three-query answers: 125 tokens.
        return min(cap, estimate + estimate // 4)
    asked = TASK_TYPES[task_type].asked_fields(optional)
    floor = MAX_TOKENS_FLOOR if any(f.length for f in asked) else SHORT_ANSWER_FLOOR
    return min(cap, max(floor, 2 * estimate))


def brainstorm_max_tokens(cap: int) -> int:
    # About 20 tasks of one sentence fit in ~700 tokens; past that a weak model is repeating itself
    # (SmolLM2-135M ran 3 of 10 brainstorms to 2,048 tokens, 7 minutes each on a CPU server).
    return min(cap, 1024)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def template_hashes() -> dict[str, str]:
    names = {t.generate_template for t in TASK_TYPES.values()}
    names |= {t.brainstorm_template for t in TASK_TYPES.values() if t.brainstorm_template}
    return {name: template_hash(name) for name in sorted(names)}
