"""Write a BEIR dir, the layout `eval.retrieval --data` reads (eval/beir.py):

    OUT/corpus.jsonl        {"_id": "guide.md#0", "title": "Guide", "text": "..."}
    OUT/queries.jsonl       {"_id": "q1", "text": "..."}
    OUT/qrels/{split}.tsv   query-id <TAB> corpus-id <TAB> score, after a header line

Each file goes to a temporary name and is renamed into place, so a crash leaves the old file or the
new one, never half of one; the qrels go last, as they refer to the other two. The ids are checked
first (every judged query and passage must be there, no tab or line break), so a bad call writes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from synth.corpus.passages import Passage
from synth.dataset.dataset import _replace_atomically


def _check_ids(ids: Iterable[str], kind: str) -> None:
    bad = [i for i in ids if not i or any(c in i for c in "\t\n\r")]
    if bad:
        raise ValueError(f"{len(bad)} {kind} id(s) are empty or hold a tab or line break, e.g. {bad[0]!r}")


def write_beir(
    out: Path,
    passages: Iterable[Passage],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    split: str = "test",
) -> Path:
    """Write `passages` (all of them: the retrieval corpus), `queries` and `qrels` under `out`;
    returns `out`. ValueError when the qrels judge a query or passage that is not given."""
    out = Path(out)
    passages = list(passages)
    ids = {p.id for p in passages}
    if len(ids) != len(passages):
        raise ValueError("write_beir: duplicate passage ids")
    if not passages or not qrels:
        raise ValueError("write_beir: a BEIR dir needs at least one passage and one judged query")
    _check_ids(ids, "passage")
    _check_ids(queries, "query")
    unknown_q = sorted(set(qrels) - set(queries))
    unknown_p = sorted({p for judged in qrels.values() for p in judged} - ids)
    if unknown_q or unknown_p:
        raise ValueError(
            f"write_beir: qrels judge unknown queries {unknown_q[:3]} or passages {unknown_p[:3]}"
        )

    def corpus(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for p in passages:
                f.write(
                    json.dumps({"_id": p.id, "title": p.title, "text": p.text}, ensure_ascii=False) + "\n"
                )

    lines = [json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in queries.items()]
    rows = ["query-id\tcorpus-id\tscore\n"]
    rows += [f"{q}\t{p}\t{int(grade)}\n" for q, judged in qrels.items() for p, grade in judged.items()]
    _replace_atomically(out / "corpus.jsonl", corpus)
    _replace_atomically(out / "queries.jsonl", lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    _replace_atomically(
        out / "qrels" / f"{split}.tsv", lambda tmp: tmp.write_text("".join(rows), encoding="utf-8")
    )
    return out
