import json

import pytest

from synth.parsing import ParseError, extract_json
from synth.validate import Reject, validate_brainstorm, validate_example

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
        ("retrieval", {**OBJ, "hard_negative_document": OBJ["positive_document"].upper() + "!"}, KNOBS,
         "positive_equals_negative"),
        ("retrieval", {**OBJ, "user_query": "tide tide tide tide tide tide"}, KNOBS, "query_copied"),
        ("retrieval", {**OBJ, "positive_document": "too short"}, KNOBS, "too_short"),
        ("classification", {"input_text": "a b c d e f", "label": "Sports", "misleading_label": "sports"},
         {"language": "en", "num_words": "at least 10"}, "label_equals_misleading"),
        ("classification", {"input_text": " ".join(["w"] * 80), "label": "x", "misleading_label": "y"},
         {"language": "en", "num_words": "less than 10"}, "too_long"),
        ("sts", {"S1": "a cat sat", "S2": "A cat sat.", "S3": "dogs run"},
         {"language": "en", "unit": "sentence"}, "query_equals_positive"),
    ],
)  # fmt: skip
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


def test_brainstorm_lists():
    assert validate_brainstorm('["1. Given a claim, find evidence.", "- Given x, find y", ""]') == [
        "Given a claim, find evidence.", "Given x, find y"]  # fmt: skip
    assert validate_brainstorm('{"tasks": ["a task"]}') == ["a task"]
    with pytest.raises(Reject) as err:
        validate_brainstorm('{"query": "x", "doc": "y"}')
    assert err.value.reason == "not_a_list"
