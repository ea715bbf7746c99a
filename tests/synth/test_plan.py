from collections import Counter

import pytest

from synth.plan import knobs
from synth.plan.languages import parse_languages
from synth.plan.plan import (
    Plan,
    brainstorm_prompt,
    completion_token_estimate,
    generate_prompt,
    max_tokens_for,
)
from synth.plan.render import render
from synth.plan.tasks import TASK_TYPES, parse_task_mix


def make_plan(seed=0, langs="en,de,ko", mix=None, reuse=3):
    return Plan(seed, parse_task_mix(None, mix), parse_languages(langs), reuse)


def test_plan_is_a_function_of_seed_and_index():
    a, b = make_plan(seed=7), make_plan(seed=7)
    _ = b[500]  # extending in another order must not change earlier calls
    assert [a[i] for i in range(200)] == [b[i] for i in range(200)]
    assert [make_plan(seed=8)[i].knobs for i in range(50)] != [a[i].knobs for i in range(50)]


def test_default_task_mix_follows_the_paper_counts():
    plan = make_plan()
    counts = Counter(plan[i].task_type for i in range(20_000))
    total = sum(t.paper_count for t in TASK_TYPES.values())
    for name, spec in TASK_TYPES.items():
        assert counts[name] / 20_000 == pytest.approx(spec.paper_count / total, abs=0.01)


def test_knob_value_sets_are_the_papers():
    assert knobs.QUERY_TYPES == ("extremely long-tail", "long-tail", "common")
    assert knobs.QUERY_LENGTHS == ("less than 5 words", "5 to 15 words", "at least 10 words")
    assert knobs.CLARITY == ("clear", "understandable with some effort", "ambiguous")
    assert knobs.RETRIEVAL_NUM_WORDS == (50, 100, 200, 300, 400, 500)
    assert knobs.CLASSIFICATION_NUM_WORDS == (
        "less than 10",
        "at least 10",
        "at least 50",
        "at least 100",
        "at least 200",
    )
    assert knobs.DIFFICULTY_ASYMMETRIC == ("high school", "college", "PhD")
    assert knobs.DIFFICULTY_SYMMETRIC == ("elementary school", "high school", "college")
    assert knobs.UNITS == ("sentence", "phrase", "passage")
    assert knobs.HIGH_SCORES == (4, 4.5, 5)
    assert knobs.LOW_SCORES_STS == (2.5, 3, 3.5) and knobs.LOW_SCORES_BITEXT == (1.5, 2, 2.5)


def test_sampled_knobs_cover_their_sets_and_bitext_draws_two_languages():
    plan = make_plan()
    seen = {}
    for i in range(3000):
        call = plan[i]
        for k, v in call.knobs.items():
            seen.setdefault((call.task_type, k), set()).add(v)
        if call.task_type == "bitext":
            assert call.knobs["language"] != call.knobs["target_language"]
    assert seen[("retrieval", "num_words")] == set(knobs.RETRIEVAL_NUM_WORDS)
    assert seen[("classification", "num_words")] == set(knobs.CLASSIFICATION_NUM_WORDS)
    assert seen[("sts", "low_score")] == set(knobs.LOW_SCORES_STS)
    assert seen[("bitext", "low_score")] == set(knobs.LOW_SCORES_BITEXT)
    assert seen[("retrieval", "language")] == {"en", "de", "ko"}


def test_tasks_are_reused_for_examples_per_task_examples():
    plan = make_plan(mix="retrieval", reuse=3)
    assert [plan[i].slot for i in range(7)] == [0, 0, 0, 1, 1, 1, 2]


def test_every_template_renders_and_names_its_output_keys():
    plan = make_plan()
    done = set()
    for i in range(500):
        call = plan[i]
        prompt = generate_prompt(call, "Given a claim, retrieve evidence." if call.slot is not None else None)
        for key in TASK_TYPES[call.task_type].keys:
            assert f'"{key}"' in prompt
        done.add(call.task_type)
    assert done == {n for n, t in TASK_TYPES.items() if not t.passages}  # grounded ones: test_grounded.py
    for name, spec in TASK_TYPES.items():
        if spec.brainstorm_template:
            assert "JSON list" in brainstorm_prompt(name) and "about 20" in brainstorm_prompt(name)
    classification = next(plan[i] for i in range(500) if plan[i].task_type == "classification")
    assert f"is {classification.knobs['num_words']} words long" in generate_prompt(classification, "t")


def test_long_long_asks_for_300_words_and_max_tokens_covers_long_documents():
    plan = make_plan(mix="long_long")
    assert "at least 300 words" in generate_prompt(plan[0], "t")
    call = next(plan[i] for i in range(2000) if plan[i].task_type == "long_long")
    # two documents of 300+ words must fit with room to spare
    assert max_tokens_for("long_long", call.knobs, cap=100_000) >= 2 * 300 * 1.35 * 1.5


def test_several_queries_get_a_quarter_more_room_than_expected_not_twice():
    """A cut answer of several queries keeps those it finished, so room past the expected length
    only buys more of a runaway string (half of SmolLM2's completion tokens at 2x)."""
    knobs = {"language": "en", "query_type": "long-tail", "query_length": "at least 10 words"}
    knobs |= {"clarity": "clear", "difficulty": "high school"}
    one = max_tokens_for("grounded_query", knobs, cap=4096, optional=False)
    three = max_tokens_for("grounded_query", knobs, cap=4096, optional=False, queries=3)
    expected = completion_token_estimate("grounded_query", knobs, False, 3)
    assert three == expected + expected // 4 < 2 * expected
    assert one >= 2 * completion_token_estimate("grounded_query", knobs, False, 1)  # one: doubled
    assert max_tokens_for("grounded_query", knobs, cap=100, optional=False, queries=3) == 100


def test_strict_undefined_and_task_text_inserted_as_data():
    with pytest.raises(ValueError, match="'task' is undefined"):
        render("retrieval_generate.j2", language="English")
    plan = make_plan(mix="retrieval")
    prompt = generate_prompt(plan[0], "Given {{ 7*7 }} and {% raw %}, retrieve x.")
    assert "Given {{ 7*7 }} and {% raw %}, retrieve x." in prompt and "49" not in prompt
