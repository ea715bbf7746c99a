"""`python -m synth.pairs`: weak training pairs from the structure of your documents, no LLM.

parse flags -> read the documents (synth.corpus: a folder of .txt/.md, .jsonl/.parquet with `text`, a
BEIR dir) -> find pairs by rule (synth.structure.rules) -> language check, decontamination, dedup
(synth.structure.build) -> write a NEW dataset dir (`--out`): rows of the common.rows contract whose
`source` names the rule ("pairs:heading_section"), stats.json with a `pairs` section, the data card.

    python -m synth.pairs --corpus docs/ --out data/weak
    python -m synth.mine --data data/weak --model intfloat/e5-base-v2 --consistency-k 2   # E5's filter

Deterministic: the same corpus and flags give the same rows, so a rerun rebuilds OUT (atomically).
Exit status: 0 done, 1 error (corpus, evaluation sets, --out), 2 bad flags, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common.cli import fail, opt, parse
from common.outdir import OutDirError
from common.outdir import check_out as check_out_dir
from synth.card.pairs import render_pairs_card
from synth.checks.decontam import CHAR_NGRAM, NGRAM_WORDS, DecontamError, Decontaminator
from synth.checks.langcheck import detector_version, unjudged_languages
from synth.corpus import MIN_BUDGET, CorpusError, load_documents
from synth.dataset.dataset import recover_dir, replace_dir, write_json, write_jsonl, write_rows, write_text
from synth.mining.dirs import DatasetError, row_counts
from synth.plan.languages import LANGUAGES
from synth.structure.build import DROP_REASONS, MODEL, Built, build_rows
from synth.structure.rules import DEFAULT_RULES, INSTRUCTIONS, RULES, Limits, document_pairs

PROG = "synth.pairs"
PAIRS_FORMAT_VERSION = 1
STATE = ".synth"


@dataclass
class PairsConfig:
    corpus: Path | None = opt(
        None,
        "your documents: a folder of .txt/.md, a .jsonl/.parquet with 'text' "
        "('title' optional), a BEIR dir, or a passages.jsonl",
        required=True,
    )
    out: Path | None = opt(
        None, "new dataset dir to write (rebuilt if it is an earlier synth.pairs dir)", required=True
    )
    rules: str = opt(",".join(DEFAULT_RULES), f"comma-separated rules to apply, of {', '.join(RULES)}")
    language: str = opt(
        "en",
        "ISO code of the documents' language: the rows' language, and what the language check holds them to",
    )
    language_check: bool = opt(
        True, "drop pairs whose query or positive is not in --language (script rule, then py3langid)"
    )
    decontaminate: list[Path] | None = opt(
        None,
        "evaluation data (BEIR dirs, STS .tsv/.csv, .jsonl, .txt) whose 13-word n-grams rows must not share",
    )
    chunk_tokens: int = opt(
        256, "a positive is the first passage of this many tokens (estimated) of its text"
    )
    min_positive_words: int = opt(8, "pairs whose positive has fewer words are left out")
    max_query_words: int = opt(64, "pairs whose query has more words are left out")
    license: str = opt("other", "license written into the data card's metadata")

    def __post_init__(self) -> None:
        if self.corpus is None or self.out is None:
            raise ValueError("--corpus and --out are required")
        unknown = [r for r in self.rule_list() if r not in RULES]
        if unknown or not self.rule_list():
            raise ValueError(
                f"--rules: {','.join(unknown) or 'none given'}: valid rules are {', '.join(RULES)}"
            )
        if self.language not in LANGUAGES:
            raise ValueError(f"--language: {self.language!r} is not an ISO code we know (e.g. en, de, ko)")
        if self.chunk_tokens < MIN_BUDGET:
            raise ValueError(f"--chunk-tokens must be at least {MIN_BUDGET}, got {self.chunk_tokens}")
        if self.min_positive_words < 1 or self.max_query_words < 1:
            raise ValueError("--min-positive-words and --max-query-words must be at least 1")

    def rule_list(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.rules.split(",") if r.strip())

    def limits(self) -> Limits:
        return Limits(
            budget=self.chunk_tokens,
            max_query_words=self.max_query_words,
            min_positive_words=self.min_positive_words,
        )


def pairs_stats(
    cfg: PairsConfig, built: Built, documents: int, with_pairs: int, decon, elapsed_s: float
) -> dict:
    dropped = {reason: dict(built.dropped[reason]) for reason in DROP_REASONS if built.dropped.get(reason)}
    section = {
        "format_version": PAIRS_FORMAT_VERSION,
        "corpus": str(cfg.corpus),
        "rules": list(cfg.rule_list()),
        "instructions": {r: INSTRUCTIONS[r] for r in cfg.rule_list()},
        "limits": asdict(cfg.limits()),
        "documents": documents,
        "documents_with_pairs": with_pairs,
        "found": dict(built.found),
        "kept": dict(built.kept),
        "dropped": dropped,
    }
    drops = built.dropped
    return {
        **row_counts(built.rows),
        "status": "complete",
        "target": len(built.rows),
        "pairs": section,
        "duplicates": {
            "exact": sum(drops["duplicate_exact"].values()),
            "near": sum(drops["duplicate_near"].values()),
        },
        "language_check": {
            "enabled": cfg.language_check,
            "detector": detector_version(),
            "unjudged_languages": unjudged_languages(),
            "wrong_language": {cfg.language: sum(drops["wrong_language"].values())},
            "wrong_script": {cfg.language: sum(drops["wrong_script"].values())},
            "detected": dict(built.wrong_language.most_common()),
        },
        "decontamination": None
        if decon is None
        else {
            "sets": [str(p) for p in decon.paths],
            "texts_indexed": decon.texts_indexed,
            "ngram_words": NGRAM_WORDS,
            "char_ngram": CHAR_NGRAM,
            "dropped": sum(drops["decontaminated"].values()),
        },
        "generator": {"backend": "none", "model": MODEL, "languages": {cfg.language: 1.0}},
        "elapsed_s": round(elapsed_s, 2),
    }


def check_out(corpus: Path, out: Path) -> None:
    """Raise DatasetError unless --out may be (re)written by this command (common.outdir's rule: a
    rebuild replaces the whole dir, so only an earlier synth.pairs dir or an empty one)."""
    if out.resolve() == corpus.resolve() or corpus.resolve() in out.resolve().parents:
        raise DatasetError(f"--out: {out} is inside the corpus {corpus}; the corpus is never modified")
    try:
        check_out_dir(out, PROG)
    except OutDirError as err:
        raise DatasetError(str(err)) from None


def main(cfg: PairsConfig) -> int:
    started = time.monotonic()
    try:
        recover_dir(cfg.out)
        check_out(cfg.corpus, cfg.out)
        decon = Decontaminator(cfg.decontaminate) if cfg.decontaminate else None
        documents = with_pairs = 0
        pairs = []
        for doc in load_documents(cfg.corpus):
            found = list(document_pairs(doc, cfg.rule_list(), cfg.limits()))
            documents, with_pairs = documents + 1, with_pairs + bool(found)
            pairs += found
    except (CorpusError, DecontamError, DatasetError) as err:
        fail(PROG, str(err))
    if not documents:
        fail(PROG, f"--corpus {cfg.corpus}: no documents in it")
    built = build_rows(pairs, cfg.language, cfg.language_check, decon)
    if not built.rows:
        fail(
            PROG,
            f"--corpus {cfg.corpus}: no pair survived ({sum(built.found.values())} found by "
            f"{', '.join(cfg.rule_list())}); see the rules in synth.structure.rules",
        )
    stats = pairs_stats(cfg, built, documents, with_pairs, decon, time.monotonic() - started)

    def build(tmp: Path) -> None:
        write_rows(tmp, built.rows)
        write_json(tmp / "stats.json", stats)
        write_jsonl(tmp / STATE / "pairs_rejects.jsonl", built.rejects)
        write_text(tmp / "README.md", render_pairs_card(tmp, stats, cfg.license, cfg.out.resolve().name))

    try:
        replace_dir(cfg.out, build)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; {cfg.out} is as it was before, or complete", file=sys.stderr)
        return 130
    except OSError as err:
        fail(PROG, f"--out: cannot write {cfg.out}: {err}")
    print(format_summary(stats, cfg.out), file=sys.stderr)
    return 0


def format_summary(stats: dict, out: Path) -> str:
    p = stats["pairs"]
    lines = [
        f"pairs: {stats['rows']:,} rows in {out} from {p['documents']:,} documents "
        f"({p['documents_with_pairs']:,} with pairs, {stats['elapsed_s']:.1f}s)"
    ]
    for rule in p["rules"]:
        drops = ", ".join(f"{reason} {n[rule]}" for reason, n in p["dropped"].items() if n.get(rule))
        lines.append(
            f"  {rule}: found {p['found'].get(rule, 0):,}, kept {p['kept'].get(rule, 0):,}"
            + (f" (dropped: {drops})" if drops else "")
        )
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return main(parse(PairsConfig, argv, PROG, __doc__.splitlines()[0]))


if __name__ == "__main__":
    sys.exit(cli())
