import json
import random
import time

import pytest

from synth.checks.langcheck import (
    asked_languages,
    check_answer,
    check_fields,
    text_languages,
    unjudged_languages,
    wrong_language,
)
from synth.checks.scripts import LANGUAGE_SCRIPTS, MIN_SCRIPT_SHARE, script_share, wrong_script
from synth.dataset.dataset import read_rows
from synth.plan.languages import LANGUAGES
from synth.run.answers import analyse
from synth.testing.fake_openai import FakeLLM, Faults

from .conftest import read_stats, run_generate

DE = "Die Regierung hat heute neue Regeln für Schulen und Kinder in der ganzen Stadt beschlossen."
EN = "The government decided on new rules for schools and children across the whole city today."
KO = "정부는 오늘 도시 전체의 학교와 아이들을 위한 새로운 규칙을 결정했습니다."


def test_text_in_another_language_is_caught_and_the_right_one_passes():
    assert wrong_language(EN, "de") == "en"
    assert wrong_language(DE, "de") is None
    assert wrong_language(KO, "ko") is None and wrong_language(KO, "ja") == "ko"


def test_short_texts_close_relatives_and_unjudged_languages_are_never_rejected():
    assert wrong_language("Hello there", "de") is None  # too short to tell
    hr = "Vlada je danas donijela nova pravila za škole i djecu u cijelom gradu i okolici."
    assert wrong_language(hr, "sr") is None and wrong_language(hr, "bs") is None
    assert set(unjudged_languages()) == {"sd", "su", "yi"}
    assert wrong_language(EN, "yi") is None


def test_bitext_fields_are_checked_against_their_own_languages():
    knobs = {"language": "de", "target_language": "en"}
    assert asked_languages("bitext", knobs) == {"S1": "de", "S2": "en", "S3": "en"}
    assert check_fields({"S1": DE, "S2": EN, "S3": EN}, asked_languages("bitext", knobs)) is None
    problem = check_fields({"S1": DE, "S2": DE, "S3": EN}, asked_languages("bitext", knobs))
    assert (problem.field, problem.reason, problem.detail) == (
        "S2",
        "wrong_language",
        "S2: asked en, detected de",
    )


def test_wrong_language_answers_are_reasked_then_rejected_and_counted_per_language(fake, tmp_path):
    server = fake(rate_wrong_language=0.3)
    out = tmp_path / "run"
    assert (
        run_generate(out, server, num_examples=30, languages="de,ko", task_types="retrieval,sts,bitext") == 0
    )
    stats = read_stats(out)
    wrong = stats["language_check"]["wrong_language"]
    assert stats["rejects"]["examples"]["wrong_language"] == sum(wrong.values()) > 0
    assert set(wrong) <= {"de", "ko"}
    assert stats["language_check"]["unjudged_languages"] == ["sd", "su", "yi"]


def test_language_check_can_be_switched_off(fake, tmp_path):
    server = fake(rate_wrong_language=0.5)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10, languages="de,ko", language_check=False) == 0
    stats = read_stats(out)
    rejects = stats["rejects"]["examples"]
    assert "wrong_language" not in rejects and "wrong_script" not in rejects
    assert stats["language_check"] == {"enabled": False}


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_the_fake_llm_writes_text_both_checks_accept(code):
    llm = FakeLLM(Faults())
    for seed, n in enumerate((3, 8, 60, 300)):
        text = llm.words(random.Random(seed), n, code)
        assert wrong_script(text, code) is None, text[:80]
        assert wrong_language(text, code) is None, text[:80]


# ---- the script rule ---------------------------------------------------------------------------


def test_a_korean_field_without_hangul_is_rejected_however_short_and_whatever_the_detector_says():
    for text in ("Seoul", "hello there", "2024", "漢字", EN):
        assert wrong_script(text, "ko") == "no Hangul letters", text
    # The detector would keep these: too short for it, or it has no model for the language.
    assert wrong_language("hello there", "ko") is None and wrong_language(EN, "yi") is None
    assert wrong_script(EN, "yi") == "0% Hebrew words"
    problem = check_answer(
        "retrieval",
        {"user_query": "서울 날씨", "positive_document": KO, "hard_negative_document": "Seoul weather"},
        {"language": "ko"},
    )
    assert (problem.reason, problem.detail) == (
        "wrong_script",
        "hard_negative_document: asked ko, no Hangul letters",
    )


@pytest.mark.parametrize(
    "text,code",
    [
        ("Kubernetes의 Pod는 container를 묶는 단위입니다", "ko"),  # code-mixed: every word holds Hangul
        ("Python의 asyncio 라이브러리는 event loop를 사용합니다. 自然言語 처리", "ko"),  # with Hanja
        ("東京大学の入試日程について教えてください", "ja"),
        ("東京大学 入試 日程", "ja"),  # a short query may be all Han
        ("使用pip install numpy安装NumPy库，然后在Python中导入它。", "zh"),
        ("Kubernetes एक container orchestration platform है जो Docker के साथ काम करता है", "hi"),
        ("Vlada je danas donijela nova pravila za škole i djecu u cijelom gradu.", "sr"),  # Latin
        ("Влада је данас донела нова правила за школе и децу у целом граду.", "sr"),  # Cyrillic
        ("Die Regierung hat heute neue Regeln beschlossen.", "de"),  # Latin script: no rule
    ],
)
def test_text_in_the_asked_script_passes_even_when_mixed(text, code):
    assert wrong_script(text, code) is None


@pytest.mark.parametrize(
    "text,code",
    [
        ("The Korean word 사랑 means love and 감사합니다 means thank you.", "ko"),  # 2 words in 11
        ("The government decided on new rules for schools.", "ja"),
        ("Правительство приняло новые правила.", "el"),  # Cyrillic asked as Greek
        ("정부는 오늘 새로운 규칙을 결정했습니다.", "zh"),
        ("حكومة المدينة قررت قواعد جديدة", "he"),
        ("The rules are new", "th"),
    ],
)
def test_text_in_another_script_is_rejected(text, code):
    share = script_share(text, code)
    assert share is not None and share < MIN_SCRIPT_SHARE
    assert wrong_script(text, code) is not None


def test_every_language_with_its_own_script_has_the_rule_and_latin_ones_do_not():
    own = {
        "ko",
        "ja",
        "zh",
        "th",
        "ar",
        "fa",
        "ur",
        "he",
        "ru",
        "uk",
        "el",
        "hi",
        "bn",
        "ta",
        "ka",
        "hy",
        "am",
    }
    assert own <= set(LANGUAGE_SCRIPTS) <= set(LANGUAGES)
    assert not {"en", "de", "vi", "tr", "sr", "uz", "az"} & set(LANGUAGE_SCRIPTS)
    assert all(script_share("", code) == 0.0 for code in LANGUAGE_SCRIPTS)


def test_the_script_rule_covers_queries_and_documents_but_not_labels():
    assert set(text_languages("retrieval", {"language": "ko"})) == {
        "user_query",
        "positive_document",
        "hard_negative_document",
    }
    assert text_languages("classification", {"language": "ko"}) == {"input_text": "ko"}
    assert text_languages("bitext", {"language": "ko", "target_language": "ru"}) == {
        "S1": "ko",
        "S2": "ru",
        "S3": "ru",
    }
    answer = json.dumps(
        {"input_text": KO * 3, "label": "sports", "misleading_label": "politics"}, ensure_ascii=False
    )
    assert analyse("classification", answer, {"language": "ko", "num_words": "at least 10"}, True).fields


def test_the_script_rule_is_cheap():
    llm = FakeLLM(Faults())
    texts = {code: llm.words(random.Random(0), 300, code) for code in ("ko", "ru", "hi", "zh", "en")}
    for code, text in texts.items():
        asked = "ko" if code == "en" else code  # an English text asked as Korean: the reject path
        start = time.perf_counter()
        for _ in range(200):
            wrong_script(text, asked)
        per_call_us = (time.perf_counter() - start) / 200 * 1e6
        assert per_call_us < 2000, f"{code}: {per_call_us:.0f} us for a 300-word field"


def test_a_wrong_script_answer_over_http_is_counted_as_a_reject(fake, tmp_path):
    # The fake's wrong-language fault answers Korean prompts in English: the script rule, not the
    # detector, catches those, and none of them reaches the dataset.
    server = fake(rate_wrong_language=0.3)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=20, languages="ko", task_types="retrieval,sts") == 0
    stats = read_stats(out)
    assert stats["rejects"]["examples"].get("wrong_script", 0) > 0
    assert stats["language_check"]["wrong_script"] == {"ko": stats["rejects"]["examples"]["wrong_script"]}
    kept = read_rows(out)
    assert len(kept) == 20
    assert all(
        wrong_script(r["query"], "ko") is None and wrong_script(r["positive"], "ko") is None for r in kept
    )


def test_a_run_over_all_93_languages_rejects_nothing_the_fake_wrote(fake, tmp_path):
    # All 93 weighted equally (the default mix is 43% English and would reach few script languages).
    server = fake()
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=200, languages=",".join(LANGUAGES)) == 0
    stats = read_stats(out)
    assert stats["rejects"]["examples"] == {}
    assert len(set(stats["per_language"]) & set(LANGUAGE_SCRIPTS)) > 30
