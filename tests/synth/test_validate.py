import json
import random
import re

import pytest

from prompts import TEMPLATE_DIR
from synth.checks.parsing import ParseError, extract_json
from synth.checks.validate import Reject, validate_brainstorm, validate_example
from synth.corpus import Passage
from synth.plan.knobs import WeightedChoice
from synth.plan.plan import PlannedCall, brainstorm_prompt, generate_prompt
from synth.plan.tasks import TASK_TYPES

OBJ = {"user_query": "how do tides work", "positive_document": " ".join(["tide"] * 60),
       "hard_negative_document": " ".join(["moon"] * 60)}  # fmt: skip
KNOBS = {"language": "en", "num_words": 50}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(OBJ),
        f"```json\n{json.dumps(OBJ)}\n```",
        f"```\n{json.dumps(OBJ)}\n```",
        f"Sure! Here you go:\n{json.dumps(OBJ)}\nHope it helps {{not json}}",
    ],
)
def test_json_is_found_plain_fenced_or_in_prose(text):
    assert extract_json(text) == OBJ


@pytest.mark.parametrize(
    "text,reason", [("", "no_json"), ("no json here", "no_json"), ('{"a": "b', "invalid_json")]
)
def test_unparseable_answers_have_reasons(text, reason):
    with pytest.raises(ParseError) as err:
        extract_json(text)
    assert err.value.reason == reason


def test_valid_example_passes_and_is_stripped():
    out = validate_example("retrieval", json.dumps({**OBJ, "user_query": "  how do tides work "}), KNOBS)
    assert out["user_query"] == "how do tides work"


@pytest.mark.parametrize(
    "task_type,obj,knobs,reason",
    [
        ("retrieval", {k: v for k, v in OBJ.items() if k != "hard_negative_document"}, KNOBS, "missing_keys"),
        ("retrieval", {**OBJ, "user_query": 7}, KNOBS, "wrong_type"),
        ("retrieval", {**OBJ, "user_query": "  "}, KNOBS, "empty_field"),
        (
            "retrieval",
            {**OBJ, "hard_negative_document": OBJ["positive_document"].upper() + "!"},
            KNOBS,
            "positive_equals_negative",
        ),
        ("retrieval", {**OBJ, "user_query": "tide tide tide tide tide tide"}, KNOBS, "query_copied"),
        ("retrieval", {**OBJ, "positive_document": "too short"}, KNOBS, "too_short"),
        (
            "classification",
            {"input_text": "a b c d e f", "label": "Sports", "misleading_label": "sports"},
            {"language": "en", "num_words": "at least 10"},
            "label_equals_misleading",
        ),
        (
            "classification",
            {"input_text": " ".join(["w"] * 80), "label": "x", "misleading_label": "y"},
            {"language": "en", "num_words": "less than 10"},
            "too_long",
        ),
        (
            "sts",
            {"S1": "a cat sat", "S2": "A cat sat.", "S3": "dogs run"},
            {"language": "en", "unit": "sentence"},
            "query_equals_positive",
        ),
    ],
)
def test_semantic_checks_reject_with_reason(task_type, obj, knobs, reason):
    with pytest.raises(Reject) as err:
        validate_example(task_type, json.dumps(obj), knobs)
    assert err.value.reason == reason


def test_word_counts_of_unspaced_scripts_use_characters():
    doc = "北京是中国的首都" * 12  # 96 characters, about 64 words
    obj = {"user_query": "北京", "positive_document": doc, "hard_negative_document": "上海" * 40}
    assert validate_example(
        "retrieval", json.dumps(obj, ensure_ascii=False), {"language": "zh", "num_words": 100}
    )


def test_brainstorm_lists_keep_the_old_forms():
    answer = validate_brainstorm('["1. Given a claim, find evidence.", "- Given x, find y", ""]')
    assert answer.tasks == ["Given a claim, find evidence.", "Given x, find y"] and answer.rejected == []
    assert validate_brainstorm('{"tasks": ["Find recipes for a dish."]}').tasks == [
        "Find recipes for a dish."
    ]
    with pytest.raises(Reject) as err:
        validate_brainstorm('{"query": "x", "doc": "y"}')
    assert err.value.reason == "not_a_list"
    with pytest.raises(Reject) as err:
        validate_brainstorm('["", "  "]')
    assert err.value.reason == "empty_list"


@pytest.mark.parametrize(
    "item,reason",
    [
        ("regression", "task_identifier"),  # the three seen from SmolLM2-135M (issue 8)
        ("Dashboards", "task_identifier"),
        ("find_related_to", "task_identifier"),
        ("userQuery", "task_identifier"),
        ("os.path.join", "task_identifier"),
        ('"query": "x"', "task_fragment"),
        ('query": "best pizza', "task_fragment"),
        ('{"tasks": ["Given a claim', "task_fragment"),
        ("Given a claim (about health, find", "task_fragment"),
        ("],", "task_fragment"),
        ("12345 67890 ---- #### !!!!", "task_fragment"),
        ("Product reviews", "task_too_short"),
        ("检索文档", "task_too_short"),  # 4 Han characters: under 3 words
        (7, "task_not_text"),
    ],
)
def test_brainstorm_items_that_are_not_instructions_are_set_aside_with_a_reason(item, reason):
    good = "Given a scientific claim, retrieve documents that support or refute it."
    answer = validate_brainstorm(json.dumps([good, item], ensure_ascii=False))
    assert answer.tasks == [good]
    assert [r["reason"] for r in answer.rejected] == [reason]
    assert answer.rejected[0]["task"] == str(item) and answer.rejected[0]["detail"]


@pytest.mark.parametrize(
    "task",
    [
        "Given x, find y",
        "Classify an email as spam or not spam.",
        "Given {{ 7*7 }} and {% if true %}x{% endif %}, retrieve documents about it.",  # literal, by design
        'Given a headline such as "Stocks fall again", retrieve articles on the same event.',
        "给定一个科学论断，检索支持或反驳它的文献。",
        "科学的な主張が与えられたとき、それを支持または反論する文書を検索する。",
        "과학적 주장이 주어지면 이를 뒷받침하거나 반박하는 문서를 검색한다.",
        "एक वैज्ञानिक दावे को देखते हुए, उसका समर्थन करने वाले दस्तावेज़ खोजें।",
    ],
)
def test_instructions_in_any_language_are_kept(task):
    assert validate_brainstorm(json.dumps([task], ensure_ascii=False)).tasks == [task]


def test_an_answer_with_no_instruction_is_rejected_and_says_why():
    with pytest.raises(Reject) as err:
        validate_brainstorm(json.dumps(["regression", "Dashboards", "find_related_to", '"query": "x"']))
    assert err.value.reason == "no_valid_task"
    assert "task_fragment" in err.value.detail and "task_identifier" in err.value.detail


def _retrieval(positive_words: int, negative_words: int) -> str:
    return json.dumps(
        {
            "user_query": "how do tides work",
            "positive_document": " ".join(["tide"] * positive_words),
            "hard_negative_document": " ".join(["moon"] * negative_words),
        }
    )


@pytest.mark.parametrize("field", ["positive_document", "hard_negative_document"])
def test_a_document_needs_half_the_words_asked(field):
    knobs = {"language": "en", "num_words": 100}
    assert validate_example("retrieval", _retrieval(50, 50), knobs)  # exactly half: kept
    short = _retrieval(34, 100) if field == "positive_document" else _retrieval(100, 34)
    with pytest.raises(Reject) as err:
        validate_example("retrieval", short, knobs)
    assert err.value.reason == "too_short"
    assert err.value.detail == f"{field}: 34 words, asked at least 100 (needs 50)"


@pytest.mark.parametrize(
    "task_type,obj,knobs,field",
    [
        (
            "long_long",
            {"input": "w " * 300, "positive_document": "w " * 149},
            {"language": "en"},
            "positive_document",
        ),
        ("long_long", {"input": "v " * 149, "positive_document": "w " * 300}, {"language": "en"}, "input"),
        (
            "classification",
            {"input_text": "w " * 24, "label": "a", "misleading_label": "b"},
            {"language": "en", "num_words": "at least 50"},
            "input_text",
        ),
        # bitext's translations are counted in the target language: 400 Han characters are 267 words,
        # more than 3 x 80 + 5 for a sentence
        (
            "bitext",
            {"S1": "a b c", "S2": "文" * 400, "S3": "x y"},
            {"language": "en", "target_language": "zh", "unit": "sentence"},
            "S2",
        ),
    ],
)
def test_every_long_field_is_measured(task_type, obj, knobs, field):
    with pytest.raises(Reject) as err:
        validate_example(task_type, json.dumps(obj, ensure_ascii=False), knobs)
    assert err.value.reason in ("too_short", "too_long") and err.value.detail.startswith(f"{field}: ")


def test_long_long_passes_at_half_of_300_words_on_both_sides():
    obj = {"input": "w " * 150, "positive_document": "v " * 150}
    assert validate_example("long_long", json.dumps(obj), {"language": "en"})


def test_a_maximum_is_three_times_what_was_asked_plus_slack():
    knobs = {"language": "en", "num_words": "less than 10"}
    ok = {"input_text": "w " * 35, "label": "a", "misleading_label": "b"}
    assert validate_example("classification", json.dumps(ok), knobs)
    with pytest.raises(Reject) as err:
        validate_example("classification", json.dumps({**ok, "input_text": "w " * 36}), knobs)
    assert err.value.detail == "input_text: 36 words, asked at most 10 (allows 35)"


def test_declared_lengths_give_every_long_field_and_the_token_estimates():
    from synth.plan.tasks import TASK_TYPES

    assert TASK_TYPES["retrieval"].lengths({"num_words": 200}) == {
        "positive_document": (200, None),
        "hard_negative_document": (200, None),
    }
    assert TASK_TYPES["sts"].lengths({"unit": "phrase"})["S2"] == (1, 40)
    assert set(TASK_TYPES["bitext"].lengths({"unit": "passage"})) == {"S1", "S2", "S3"}
    assert TASK_TYPES["classification"].lengths({"num_words": "less than 10"}) == {"input_text": (1, 10)}
    # what the plan budgets max_tokens from: two 200-word documents and a query
    assert TASK_TYPES["retrieval"].expected_words({"num_words": 200}) == 2 * 1.3 * 200 + 15


GROUNDED_KNOBS = {"language": "en"}
PASSAGE = " ".join(f"word{i}" for i in range(80))  # asks a hard negative of at least 20 words
GROUNDED = {"query": "what does word7 say about word8", "hard_negative": " ".join(["other"] * 40)}


@pytest.mark.parametrize(
    "negative,reason",
    [
        ("far too short", "too_short"),
        (PASSAGE, "positive_equals_negative"),
        (["not", "a", "string"], "wrong_type"),
        ("filler what does word7 say about word8 filler " * 4, "query_copied"),
    ],
)
def test_an_optional_field_that_fails_its_checks_is_dropped_and_the_answer_kept(negative, reason):
    obj = {**GROUNDED, "hard_negative": negative}
    fields = validate_example("grounded_query", json.dumps(obj), GROUNDED_KNOBS, (PASSAGE,))
    assert "hard_negative" not in fields and fields.dropped == {"hard_negative": reason}
    assert fields["query"] == obj["query"]


def test_a_valid_optional_field_is_kept_and_a_required_failure_still_rejects():
    fields = validate_example("grounded_query", json.dumps(GROUNDED), GROUNDED_KNOBS, (PASSAGE,))
    assert fields["hard_negative"] == GROUNDED["hard_negative"] and fields.dropped == {}
    with pytest.raises(Reject) as r:  # the query is required: the answer goes
        validate_example(
            "grounded_query",
            json.dumps({"query": "Your search query", "hard_negative": "short"}),
            GROUNDED_KNOBS,
            (PASSAGE,),
        )
    assert r.value.reason == "query_off_passage"
    with pytest.raises(Reject) as r:  # a required negative that fails still rejects the answer
        validate_example("retrieval", json.dumps({**OBJ, "hard_negative_document": "too short"}), KNOBS)
    assert r.value.reason == "too_short"


HELP_PASSAGE = (
    'By default, "object" implements "__eq__()" by using "is", returning "NotImplemented" otherwise.'
)


@pytest.mark.parametrize(
    "query,kept",
    [
        # SmolLM2-135M's kept queries over Python's help topics before the rule: nothing of the passage
        ("123", False),
        ("test", False),
        ("Your search query", False),
        ("how objects compare", True),  # "objects" finds "object"
        ("NotImplemented meaning", True),
        ("how two values are judged equal", True),  # longer: a paraphrase in other words is fine
    ],
)
def test_a_grounded_query_must_share_a_word_with_its_passage(query, kept):
    obj = json.dumps({"query": query, "hard_negative": ""})
    if kept:
        assert validate_example("grounded_query", obj, GROUNDED_KNOBS, (HELP_PASSAGE,))["query"] == query
    else:
        with pytest.raises(Reject) as r:
            validate_example("grounded_query", obj, GROUNDED_KNOBS, (HELP_PASSAGE,))
        assert r.value.reason == "query_off_passage"


def test_a_cross_lingual_query_is_not_held_to_its_passages_words():
    obj = json.dumps(
        {"query": "Wie vergleicht Python standardmäßig zwei Werte miteinander?", "hard_negative": ""}
    )
    fields = validate_example("grounded_query", obj, {"language": "de"}, (HELP_PASSAGE * 2,))
    assert fields["query"].startswith("Wie")


def test_grounded_rows_take_the_fixed_instruction():
    spec = TASK_TYPES["grounded_query"]
    assert spec.instruction == "fixed" and spec.fixed_instruction.startswith("Given a search query")


MULTI_HOP = {"task": "Given a question that joins two facts, retrieve the passages that answer it.",
             "query": "which word7 follows word8"}  # fmt: skip
MULTI_HOP_EXAMPLE = TASK_TYPES["multi_hop"].examples()["task"]


@pytest.mark.parametrize(
    "task,reason",
    [
        (MULTI_HOP_EXAMPLE, "copied_example"),  # the prompt's own example, over any passage
        (MULTI_HOP_EXAMPLE.upper().rstrip("."), "copied_example"),
        (f"{MULTI_HOP_EXAMPLE} Then rank them.", "copied_example"),
        # SmolLM2-135M's kept rows of a real grounded run: the example cut short after its domain
        (MULTI_HOP_EXAMPLE.split(",")[0], "copied_example"),
        (
            "Informative passage to inform people about the importance of storing biological data.",
            "task_form",
        ),
        (
            "Given " + "a rather long and winding description of the data " * 5 + "retrieve it.",
            "task_too_long",
        ),
    ],
)
def test_a_written_instruction_must_be_one_in_the_form_asked_and_not_the_example(task, reason):
    with pytest.raises(Reject) as r:
        validate_example("multi_hop", json.dumps({**MULTI_HOP, "task": task}), GROUNDED_KNOBS, (PASSAGE,) * 2)
    assert r.value.reason == reason


def test_brainstormed_tasks_repeating_a_prompt_example_are_set_aside():
    example = TASK_TYPES["retrieval"].brainstorm_examples[0]
    answer = validate_brainstorm(json.dumps([example, "Given a recipe, find wines that suit it."]))
    assert answer.tasks == ["Given a recipe, find wines that suit it."]
    assert [r["reason"] for r in answer.rejected] == ["copied_example"]
    long_one = "Given " + "a query about many things " * 8 + "find documents."
    assert validate_brainstorm(json.dumps([long_one, "Given a claim, find evidence."])).rejected[0][
        "reason"
    ] == ("task_too_long")


@pytest.mark.parametrize("name", list(TASK_TYPES))
def test_every_example_a_prompt_shows_comes_from_the_declaration(name):
    """The checks read the examples the prompts show: a template holds none of its own."""
    spec = TASK_TYPES[name]
    templates = [spec.generate_template] + ([spec.brainstorm_template] if spec.brainstorm_template else [])
    for template in templates:
        source = (TEMPLATE_DIR / template).read_text()
        assert not re.search(r'such as "[A-Z]|^- Given', source, re.MULTILINE), (
            f"{template} hard-codes an example"
        )
    if spec.brainstorm_template:
        prompt = brainstorm_prompt(name)
        assert all(f"- {e}\n" in prompt for e in spec.brainstorm_examples)
        shows = "{{ example }}" in (TEMPLATE_DIR / spec.brainstorm_template).read_text()
        assert shows == bool(spec.brainstorm_examples), "a template that shows examples declares them"
    for key, example in spec.examples().items():
        knobs = spec.sample_knobs(random.Random(0), WeightedChoice({"en": 1.0, "de": 1.0}))
        passages = [Passage(f"p#{i}", "p", "p", "", "some text") for i in range(spec.hops(knobs))]
        call = PlannedCall(0, name, knobs, None, tuple(p.id for p in passages))
        assert f'"{example}"' in generate_prompt(call, None, passages), key


def test_query_strings_are_bounded_only_where_asked_and_only_search_queries():
    from synth.checks.validate import json_schema, query_max_chars

    several = json_schema("grounded_query", False, 3, 256)["properties"]["queries"]["items"]
    assert several == {"type": "string", "maxLength": 256}
    one = json_schema("grounded_query", True, 1, 256)["properties"]
    assert one["query"]["maxLength"] == 256 and "maxLength" not in one["hard_negative"]
    # long texts in a query's role (an sts sentence, a long_long input) keep no bound; strict API
    # schemas (the default) take no length keyword at all
    assert "maxLength" not in json.dumps(json_schema("sts", True, 1, 256))
    assert "maxLength" not in json.dumps(json_schema("long_long", True, 1, 256))
    assert "maxLength" not in json.dumps(json_schema("grounded_query", False, 3))
    assert query_max_chars(["a claim of forty characters, more or less"]) == 256
