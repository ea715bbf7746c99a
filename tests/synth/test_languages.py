import pytest

from synth.plan.languages import HIGH_RESOURCE, LANGUAGES, default_weights, parse_languages


def test_xlmr_list_has_93_languages_with_iso_codes_and_names():
    assert len(LANGUAGES) == 93
    assert all(code.isalpha() and code.islower() and 2 <= len(code) <= 3 for code in LANGUAGES)
    assert LANGUAGES["ko"] == "Korean" and LANGUAGES["zh"] == "Chinese"


def test_default_weights_follow_the_paper():
    w = default_weights()
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["en"] == pytest.approx(0.431)
    assert len(HIGH_RESOURCE) == 13 and all(w[c] == pytest.approx(0.029) for c in HIGH_RESOURCE)
    rest = [v for c, v in w.items() if c != "en" and c not in HIGH_RESOURCE]
    assert len(rest) == 79 and max(rest) == pytest.approx(min(rest))


def test_parse_languages_codes_and_weights():
    assert parse_languages("en,ko,de") == {"en": 1.0, "ko": 1.0, "de": 1.0}
    assert parse_languages("en:0.7, de:0.3") == {"en": 0.7, "de": 0.3}


@pytest.mark.parametrize(
    "spec,message",
    [
        ("en,xx", "unknown language code 'xx'"),
        ("en:abc", "not a number"),
        ("en:0", "must be > 0"),
        (",", "no language codes"),
    ],
)
def test_parse_languages_errors_name_the_flag(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_languages(spec)
    assert str(err.value).startswith("--languages")
