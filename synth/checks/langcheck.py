"""Is each generated field in the language it was asked for?

Two checks, cheapest first:
1. The script rule (`synth.checks.scripts`): a field asked in a language with its own script (Korean,
   Hindi, Russian, ...) must have at least `MIN_SCRIPT_SHARE` of its words in that script; one with
   none is rejected however short it is. It covers every field asked in a language (queries and
   documents, not classification labels) and every such language, the detector's unjudged ones too.
2. The detector, py3langid (langid.py's model, 140 languages, shipped inside the package, so nothing
   is downloaded at run time). A field is judged only when the detector knows the asked language and
   the text is long enough to tell; a field is wrong only when the detector is confident of another
   language and gives the asked one almost no chance. Close relatives that the detector confuses,
   and that an LLM may fairly produce for each other's names, count as the same language.

Never judged by the detector (it has no model for them): see `unjudged_languages()`. Rows in those
languages are kept on the generator's word, once they pass the script rule where they have one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from synth.checks.scripts import wrong_script
from synth.plan.languages import LANGUAGES
from synth.plan.tasks import TASK_TYPES

MIN_CHARS = 24  # shorter texts (labels, short queries) are too short to tell apart reliably
MAX_CHARS = 200  # plenty to identify a language; detection costs a Python loop per character
CONFIDENT = 0.9  # the detector's probability for another language before we call a text wrong
ASKED_FLOOR = 0.02  # ...and the asked language must have less than this
DETECTOR = "py3langid"

# Languages the detector splits finer than our codes, or mixes up with a sibling.
SAME_AS: dict[str, frozenset[str]] = {
    group_member: group
    for group in (
        frozenset({"bs", "hr", "sr"}),  # Serbo-Croatian standards
        frozenset({"ms", "id"}),  # Malay / Indonesian
        frozenset({"no", "nb", "nn", "da"}),  # Norwegian standards and Danish
        frozenset({"zh", "wuu", "yue"}),  # Chinese varieties written in Han characters
        frozenset({"fa", "prs"}),  # Persian / Dari
        frozenset({"ku", "ckb", "kmr"}),  # Kurdish varieties
        frozenset({"tl", "fil"}),  # Tagalog / Filipino
    )
    for group_member in group
}


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=1)
def supported() -> frozenset[str]:
    labels = set(_identifier().nb_classes)
    return frozenset(code for code in LANGUAGES if code in labels or SAME_AS.get(code, frozenset()) & labels)


def unjudged_languages() -> list[str]:
    """Our languages the detector cannot judge: rows in them are never rejected on its word."""
    return sorted(set(LANGUAGES) - supported())


def detector_version() -> str:
    from importlib.metadata import version

    return f"{DETECTOR} {version(DETECTOR)}"


def wrong_language(text: str, asked: str) -> str | None:
    """The language the text is confidently in, if that is not `asked`; else None (right, or
    not judged)."""
    if asked not in supported() or len("".join(text.split())) < MIN_CHARS:
        return None
    ranking = _identifier().rank(text[:MAX_CHARS])
    top, p_top = ranking[0]
    same = SAME_AS.get(asked, frozenset({asked}))
    if top in same or p_top < CONFIDENT:
        return None
    p_asked = sum(p for lang, p in ranking if lang in same)
    return top if p_asked < ASKED_FLOOR else None


@dataclass(frozen=True)
class LanguageProblem:
    field: str
    asked: str
    reason: str  # the reject reason: "wrong_script" or "wrong_language"
    detail: str  # "S2: asked en, detected de"
    detected: str | None = None  # the detector's language, for wrong_language


def check_fields(fields: dict[str, str], languages: dict[str, str]) -> LanguageProblem | None:
    """The detector's verdict on the first field not in its asked language, or None.

    `languages` maps field name -> asked language code; fields missing from it are not checked
    (classification labels, say, are a word or two)."""
    for name, asked in languages.items():
        if name not in fields:  # an optional field left out
            continue
        detected = wrong_language(fields[name], asked)
        if detected is not None:
            detail = f"{name}: asked {asked}, detected {detected}"
            return LanguageProblem(name, asked, "wrong_language", detail, detected)
    return None


def check_scripts(fields: dict[str, str], languages: dict[str, str]) -> LanguageProblem | None:
    """The script rule's verdict on the first field whose script cannot be its asked language's."""
    for name, asked in languages.items():
        if name not in fields:
            continue
        why = wrong_script(fields[name], asked)
        if why is not None:
            return LanguageProblem(name, asked, "wrong_script", f"{name}: asked {asked}, {why}")
    return None


def check_answer(task_type: str, fields: dict[str, str], knobs: dict) -> LanguageProblem | None:
    """Both checks on a validated answer: the script rule on every field asked in a language, then
    the detector on the fields `asked_languages` picks."""
    problem = check_scripts(fields, text_languages(task_type, knobs))
    return problem or check_fields(fields, asked_languages(task_type, knobs))


def text_languages(task_type: str, knobs: dict) -> dict[str, str]:
    """Every field asked to be in a language, with that language: queries, inputs and documents;
    not classification labels (declared without a language in `synth.plan.tasks`)."""
    return TASK_TYPES[task_type].field_languages(knobs)


def asked_languages(task_type: str, knobs: dict) -> dict[str, str]:
    """Which language the fields the detector reads were asked to be in.

    One long field per language of the answer is enough: an LLM that slips into another language
    does so for the whole answer far more often than for one field of it, and detection is the
    generator's largest CPU cost per call. `synth.plan.tasks` marks those fields (`detect=True`)."""
    return TASK_TYPES[task_type].field_languages(knobs, detect_only=True)
