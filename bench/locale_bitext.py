"""Multilingual evaluation data from the machine's own gettext catalogs (offline, human translations).

    .venv/bin/python bench/locale_bitext.py --out /tmp/ml --languages de,fr,es,ru,ja,ko,zh_CN,ar
    python -m eval.bitext    --model M --data /tmp/ml/bitext/
    python -m eval.retrieval --model M --data /tmp/ml/xling/

``/usr/share/locale/<lang>/LC_MESSAGES/*.mo`` hold translations of English UI messages (apt, glib,
GTK, shared-mime-info, ...). Messages that every selected language translates, that read as text
(at least ``--min-words`` words, no format directives, no markup, no newlines) and whose English is
unique are kept, the same ``--num`` per language (seeded sample), so every pair shares one English
side. Writes ``bitext/<lang3>-eng.tsv`` (eval.bitext) and ``xling/<lang>-en/`` BEIR dirs (queries in
the language, corpus the English messages; cross-lingual retrieval with ``language`` fields).

Not handled: plural forms and message contexts (skipped), catalogs in other places.
"""

from __future__ import annotations

import argparse
import gettext
import json
import random
import re
from pathlib import Path

LOCALE = Path("/usr/share/locale")
# ISO 639-3 codes for the file names, as Tatoeba/LASER name their pairs.
ISO3 = {"de": "deu", "fr": "fra", "es": "spa", "ru": "rus", "ja": "jpn", "ko": "kor", "zh_CN": "cmn",
        "ar": "ara", "it": "ita", "pt_BR": "por", "pl": "pol", "tr": "tur", "vi": "vie", "nl": "nld",
        "sv": "swe", "uk": "ukr", "cs": "ces", "hu": "hun", "fi": "fin", "id": "ind"}  # fmt: skip
NOT_TEXT = re.compile(r"%|\{|<|>|\\|_[A-Za-z]|\n|\t|&|\$|@|/|^\W|--")


def catalog(lang: str) -> dict[str, str]:
    """English message -> translation over all of a language's .mo files (first catalog wins)."""
    out: dict[str, str] = {}
    for mo in sorted((LOCALE / lang / "LC_MESSAGES").glob("*.mo")):
        try:
            with mo.open("rb") as f:
                cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 - the parsed table itself
        except (OSError, UnicodeDecodeError):  # a catalog in another charset: skip it, others remain
            continue
        for key, value in cat.items():
            if isinstance(key, str) and key and isinstance(value, str) and value and "\x04" not in key:
                out.setdefault(key, value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output dir (gets bitext/ and xling/)")
    ap.add_argument("--languages", default="de,fr,es,ru,ja,ko,zh_CN,ar", help="locale dir names")
    ap.add_argument("--num", type=int, default=300, help="pairs per language")
    ap.add_argument("--min-words", type=int, default=4, help="shortest English message kept, in words")
    ap.add_argument("--seed", type=int, default=0, help="sample seed")
    args = ap.parse_args()
    langs = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    cats = {lang: catalog(lang) for lang in langs}
    common = set.intersection(*(set(c) for c in cats.values()))
    keep = sorted(
        m
        for m in common
        if len(m.split()) >= args.min_words
        and not NOT_TEXT.search(m)
        and all(not NOT_TEXT.search(cats[lang][m]) and cats[lang][m] != m for lang in langs)
    )
    english = random.Random(args.seed).sample(keep, min(args.num, len(keep)))
    print(
        f"{len(common)} messages in all {len(langs)} languages, {len(keep)} read as text, {len(english)} kept"
    )
    (args.out / "bitext").mkdir(parents=True, exist_ok=True)
    for lang in langs:
        code = ISO3.get(lang, lang)
        rows = "".join(f"{cats[lang][m]}\t{m}\n" for m in english)
        (args.out / "bitext" / f"{code}-eng.tsv").write_text(f"{code}\teng\n{rows}", encoding="utf-8")
        beir = args.out / "xling" / f"{lang}-en"
        (beir / "qrels").mkdir(parents=True, exist_ok=True)
        (beir / "corpus.jsonl").write_text(
            "".join(
                json.dumps({"_id": f"d{i}", "text": m, "language": "en"}, ensure_ascii=False) + "\n"
                for i, m in enumerate(english)
            ),
            encoding="utf-8",
        )
        (beir / "queries.jsonl").write_text(
            "".join(
                json.dumps({"_id": f"q{i}", "text": cats[lang][m], "language": lang}, ensure_ascii=False)
                + "\n"
                for i, m in enumerate(english)
            ),
            encoding="utf-8",
        )
        (beir / "qrels" / "test.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(len(english)))
        )
    print(f"-> {args.out / 'bitext'}, {args.out / 'xling'}")


if __name__ == "__main__":
    main()
