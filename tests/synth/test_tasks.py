"""Task types are declared once (synth/plan/tasks.py); a half-declared one fails at declaration."""

from __future__ import annotations

import random

import pytest

from synth.plan.knobs import WeightedChoice
from synth.plan.task_spec import Field, Knob, Length, TaskType
from synth.plan.tasks import TASK_TYPES, task_type

LANGUAGE = Knob(name="language", language="run")


def declare(**overrides) -> TaskType:
    base = dict(
        name="sts",
        instruction="fixed",
        fixed_instruction="Retrieve semantically similar text.",
        knobs=(LANGUAGE, Knob(name="unit", values=("phrase",))),
        fields=(Field(key="S1", role="query"), Field(key="S2", role="positive")),
    )
    return TaskType(**{**base, **overrides})


@pytest.mark.parametrize(
    "overrides,problem",
    [
        ({"fields": (Field(key="S1", role="query"),)}, "one 'positive' field"),
        ({"instruction": "brainstorm", "fixed_instruction": None}, "needs fallback_tasks"),
        ({"fixed_instruction": None}, "fixed_instruction exactly when"),
        ({"knobs": (Knob(name="unit", values=("phrase",)),)}, "a 'language' knob"),
        (
            {
                "fields": (
                    Field(key="S1", role="query", length=Length(at_least="num_words")),
                    Field(key="S2", role="positive"),
                )
            },
            "names unknown knobs",
        ),
        ({"name": "poetry"}, "no template prompts/poetry_generate.j2"),
        ({"distinct": (("S1", "S9", "same"),)}, "not keys of the answer"),
        (
            {"fields": (Field(key="S1", role="query", optional=True), Field(key="S2", role="positive"))},
            "only a 'negative' field",
        ),
    ],
)
def test_a_half_declared_type_fails_in_one_error(overrides, problem):
    with pytest.raises(ValueError, match=problem):
        declare(**overrides)


def test_unknown_keys_in_a_declaration_are_refused():
    with pytest.raises(ValueError, match="extra"):
        Field(key="S1", role="query", lenght=Length(at_least=3))


def test_an_unknown_type_names_the_declared_ones():
    with pytest.raises(ValueError, match="unknown task type 'poetry'; declared: retrieval, classification"):
        task_type("poetry")


def test_behaviour_is_read_from_the_declaration():
    bitext = TASK_TYPES["bitext"]
    knobs = bitext.sample_knobs(random.Random(0), WeightedChoice({"de": 1.0, "en": 1.0}))
    assert knobs["language"] != knobs["target_language"] and bitext.language_pair(knobs) == (
        f"{knobs['language']}-{knobs['target_language']}"
    )
    assert bitext.field_languages(knobs) == {
        "S1": knobs["language"],
        "S2": knobs["target_language"],
        "S3": knobs["target_language"],
    }
    assert set(bitext.template_variables(knobs)) >= {"source_language", "target_language", "unit"}
    classification = TASK_TYPES["classification"]
    assert classification.dedup_keys() == ("input_text",) and "label" not in classification.field_languages(
        {"language": "en"}
    )
