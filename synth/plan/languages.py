"""The 93 languages of the XLM-R list and the paper's default sampling weights.

XLM-R's 100 training languages minus its romanized variants (Bengali, Hindi, Tamil, Telugu, Urdu) and
Burmese Zawgyi, with Simplified and Traditional Chinese as one entry: 93 languages, each with an ISO
639-1 code (or the closest ISO 639 code) and an English name.

The paper's data is 43.1% English and about 2.9% for each of 13 high-resource languages; the remaining
languages share what is left evenly.

>>> parse_languages("en,ko:2")
{'en': 1.0, 'ko': 2.0}
"""

from __future__ import annotations

from synth.plan.weights import parse_weighted

LANGUAGES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "as": "Assamese", "az": "Azerbaijani",
    "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton", "bs": "Bosnian",
    "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "fy": "Western Frisian", "ga": "Irish",
    "gd": "Scottish Gaelic", "gl": "Galician", "gu": "Gujarati", "ha": "Hausa", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "ku": "Kurdish (Kurmanji)",
    "ky": "Kyrgyz", "la": "Latin", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian",
    "mg": "Malagasy", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian",
    "om": "Oromo", "or": "Odia", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sa": "Sanskrit", "sd": "Sindhi",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian",
    "sr": "Serbian", "su": "Sundanese", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Filipino", "tr": "Turkish", "ug": "Uyghur",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "xh": "Xhosa",
    "yi": "Yiddish", "zh": "Chinese",
}  # fmt: skip

ENGLISH_SHARE = 0.431
HIGH_RESOURCE = ("ar", "zh", "nl", "fr", "de", "id", "it", "ja", "fa", "pl", "pt", "ru", "es")
HIGH_RESOURCE_SHARE = 0.029

# Scripts written without spaces between words: word counts and shingles must use characters there.
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my"})


def default_weights() -> dict[str, float]:
    """The paper's mix: English 43.1%, 2.9% per high-resource language, the rest shared evenly."""
    rest = [c for c in LANGUAGES if c != "en" and c not in HIGH_RESOURCE]
    rest_share = (1.0 - ENGLISH_SHARE - HIGH_RESOURCE_SHARE * len(HIGH_RESOURCE)) / len(rest)
    weights = {c: rest_share for c in rest}
    weights.update({c: HIGH_RESOURCE_SHARE for c in HIGH_RESOURCE})
    weights["en"] = ENGLISH_SHARE
    return weights


def parse_languages(spec: str | None) -> dict[str, float]:
    """`"en,ko,de"` (equal weights) or `"en:0.5,ko:0.25"`; None or "" gives the paper's weights."""
    if not spec:
        return default_weights()
    return parse_weighted(spec.lower(), "--languages", LANGUAGES, lambda _: 1.0, "language code")


def language_name(code: str) -> str:
    return LANGUAGES[code]
