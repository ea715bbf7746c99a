"""Pairs -> dataset rows, filtered as the generator filters its rows, with every drop counted by rule.

Each pair, in corpus order (documents as `synth.corpus` reads them, pairs in document order):
1. language: the script rule, then the detector (`synth.checks.langcheck`), on query and positive against
   `--language` -> `wrong_script` / `wrong_language`;
2. decontamination (`synth.checks.decontam`): a 13-word n-gram shared with an evaluation set -> `decontaminated`;
3. dedup (`synth.checks.dedup`, on query and positive like a retrieval row): a text equal after
   normalisation, or MinHash-near, to one of an earlier kept row -> `duplicate_exact` / `duplicate_near`.

    rules found [title_body: 3, first_sentence: 5], one first_sentence pair in German, one repeated
    -> kept {title_body: 3, first_sentence: 3}, dropped {wrong_language: {first_sentence: 1},
       duplicate_exact: {first_sentence: 1}}

Memory: every pair of the corpus at once (its texts, about twice the corpus), plus the dedup index.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from common.rows import Row, row_id
from synth.checks.decontam import Decontaminator
from synth.checks.dedup import Deduper
from synth.checks.langcheck import check_fields, check_scripts
from synth.structure import rules as rules_module
from synth.structure.rules import INSTRUCTIONS, Pair

MODEL = "synth.pairs"  # the rows' `model`: no LLM wrote them
TEMPLATE_HASH = hashlib.sha256(Path(rules_module.__file__).read_bytes()).hexdigest()[:12]  # the rules' code
DROP_REASONS = ("wrong_script", "wrong_language", "decontaminated", "duplicate_exact", "duplicate_near")


@dataclass
class Built:
    rows: list[dict]
    found: Counter = field(default_factory=Counter)  # rule -> pairs found
    dropped: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # reason -> rule -> n
    wrong_language: Counter = field(default_factory=Counter)  # detected language -> n
    rejects: list[dict] = field(default_factory=list)

    @property
    def kept(self) -> Counter:
        return Counter(r["source"].removeprefix(PAIR_SOURCE) for r in self.rows)


PAIR_SOURCE = "pairs:"  # a weak pair's `source` is this and its rule's name


def is_weak_pair(row: dict) -> bool:
    """A synth.pairs row (`source` "pairs:RULE"), not one an LLM wrote."""
    return str(row.get("source") or "").startswith(PAIR_SOURCE)


def pair_document(row: dict) -> str | None:
    """The document a weak pair came from ("DOC_ID:N" in `call`), None for any other row."""
    if not is_weak_pair(row):
        return None
    return row["call"].rsplit(":", 1)[0]


def to_row(pair: Pair, language: str) -> dict:
    instruction = INSTRUCTIONS[pair.rule]
    return Row(
        id=row_id("retrieval", instruction, pair.query, pair.positive, None),
        task_type="retrieval",
        instruction=instruction,
        query=pair.query,
        positive=pair.positive,
        negative=None,
        language=language,
        language_pair=None,
        model=MODEL,
        source=f"{PAIR_SOURCE}{pair.rule}",
        knobs=json.dumps({"rule": pair.rule}),
        template=pair.rule,
        template_hash=TEMPLATE_HASH,
        call=f"{pair.doc_id}:{pair.n}",
    ).as_dict()


def build_rows(
    pairs: Iterable[Pair],
    language: str,
    language_check: bool = True,
    decontaminator: Decontaminator | None = None,
) -> Built:
    """The rows that survive the filters, in order, and what each filter dropped."""
    built = Built([])
    candidates: list[dict] = []
    for pair in pairs:
        built.found[pair.rule] += 1
        fields = {"query": pair.query, "positive": pair.positive}
        asked = {"query": language, "positive": language}
        problem = (check_scripts(fields, asked) or check_fields(fields, asked)) if language_check else None
        if problem is not None:
            if problem.detected:
                built.wrong_language[problem.detected] += 1
            _drop(built, pair, problem.reason, problem.detail)
        elif decontaminator is not None and decontaminator.contaminated([pair.query, pair.positive]):
            _drop(built, pair, "decontaminated", "")
        else:
            candidates.append(to_row(pair, language) | {"_pair": pair})
    verdicts = Deduper().check_many([[r["query"], r["positive"]] for r in candidates])
    for row, verdict in zip(candidates, verdicts, strict=True):
        pair = row.pop("_pair")
        if verdict is None:
            built.rows.append(row)
        else:
            _drop(built, pair, f"duplicate_{verdict}", "")
    return built


def _drop(built: Built, pair: Pair, reason: str, detail: str) -> None:
    built.dropped[reason][pair.rule] += 1
    built.rejects.append(
        {
            "rule": pair.rule,
            "reason": reason,
            "detail": detail,
            "doc_id": pair.doc_id,
            "query": pair.query,
            "positive": pair.positive,
        }
    )
