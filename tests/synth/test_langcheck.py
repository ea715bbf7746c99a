import pytest

from synth.langcheck import asked_languages, check_fields, unjudged_languages, wrong_language

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
    assert check_fields({"S1": DE, "S2": DE, "S3": EN}, asked_languages("bitext", knobs)) == (
        "S2",
        "en",
        "de",
    )


def test_wrong_language_answers_are_reasked_then_rejected_and_counted_per_language(fake, tmp_path):
    server = fake(rate_wrong_language=0.3)
    out = tmp_path / "run"
    assert (
        run_generate(out, server, num_examples=30, languages="de,ko", task_types="retrieval,sts,bitext") == 0
    )
    stats = read_stats(out)
    wrong = stats["language_check"]["wrong_language"]
    assert stats["rejects"]["wrong_language"] == sum(wrong.values()) > 0
    assert set(wrong) <= {"de", "ko"}
    assert stats["language_check"]["unjudged_languages"] == ["sd", "su", "yi"]


def test_language_check_can_be_switched_off(fake, tmp_path):
    server = fake(rate_wrong_language=0.5)
    out = tmp_path / "run"
    assert run_generate(out, server, num_examples=10, languages="de,ko", language_check=False) == 0
    stats = read_stats(out)
    assert "wrong_language" not in stats["rejects"] and stats["language_check"] == {"enabled": False}


@pytest.mark.parametrize("code", ["en", "de", "ko", "zh", "ja", "ru", "fr", "es"])
def test_the_fake_llm_writes_text_the_detector_accepts(code):
    import random

    from synth.testing.fake_openai import FakeLLM, Faults

    text = FakeLLM(Faults()).words(random.Random(0), 60, code)
    assert wrong_language(text, code) is None
