"""Local files as mteb tasks, so ``eval.mteb`` runs them through mteb's own code path.

``--tasks path/to/beir_dir`` becomes a retrieval task read from the BEIR files (via
:mod:`eval.beir`), ``--tasks pairs.tsv`` an STS task (via :mod:`eval.sts_file`), a TSV whose header is two language
names (``kor<TAB>eng``) a bitext mining task (via :mod:`eval.bitext_file`). They are what the
equivalence tests feed to mteb, and they let a user check a private data set the way mteb would.
Task name: ``Local-<dir or file stem>``; the instruction goes into the task metadata's prompt,
where mteb's own tasks carry theirs.

Not handled: other task types (classification, clustering) from local files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.beir import load_beir
from eval.bitext_file import load_bitext
from eval.errors import EvalError
from eval.sts_file import load_sts

_GENERAL = dict(
    description="A local data set evaluated with mteb's code path (synthembed eval).",
    reference=None,
    dataset={"path": "local", "revision": "local"},
    category="t2t",
    eval_langs=["eng-Latn"],
    date=None,
    dialect=[],
    domains=[],
    task_subtypes=[],
    license="not specified",
    annotations_creators="derived",
    modalities=["text"],
    sample_creation="found",
    bibtex_citation="",
)


def beir_task(
    path: Path, split: str = "test", instruction: str | None = None, name: str | None = None
) -> Any:
    """An ``AbsTaskRetrieval`` over a BEIR dir; documents are title + text, as mteb joins them."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
    from mteb.abstasks.task_metadata import TaskMetadata

    data = load_beir(path, split)  # errors surface now, not inside mteb
    metadata = TaskMetadata(
        name=name or f"Local-{Path(path).resolve().name}",
        type="Retrieval",
        main_score="ndcg_at_10",
        eval_splits=[split],
        prompt={"query": instruction} if instruction else None,
        **_GENERAL,
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        # Titles are already joined into the text by load_beir, so mteb sees the same strings.
        split_data = RetrievalSplitData(
            corpus=Dataset.from_list([{"id": d, "text": t} for d, t in data.corpus.items()]),
            queries=Dataset.from_list([{"id": q, "text": t} for q, t in data.queries.items()]),
            relevant_docs=data.qrels,
            top_ranked=None,
        )
        self.dataset = {"default": {split: split_data}}
        self.data_loaded = True

    cls = type("LocalBeirTask", (AbsTaskRetrieval,), {"metadata": metadata, "load_data": load_data})
    return cls()


def sts_task(path: Path, instruction: str | None = None, name: str | None = None) -> Any:
    """An ``AbsTaskSTS`` over a sentence-pair file; the gold range is taken from the file."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.sts import AbsTaskSTS
    from mteb.abstasks.task_metadata import TaskMetadata

    data = load_sts(path)
    metadata = TaskMetadata(
        name=name or f"Local-{Path(path).stem}",
        type="STS",
        main_score="cosine_spearman",
        eval_splits=["test"],
        prompt=instruction or None,
        **_GENERAL,
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        rows = {"sentence1": data.sentence1, "sentence2": data.sentence2, "score": data.score}
        self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
        self.data_loaded = True

    attrs = {
        "metadata": metadata,
        "load_data": load_data,
        "min_score": min(data.score),
        "max_score": max(data.score),
    }
    return type("LocalSTSTask", (AbsTaskSTS,), attrs)()


def bitext_task(path: Path, instruction: str | None = None, name: str | None = None) -> Any:
    """An ``AbsTaskBitextMining`` over a bitext TSV: column 1 as sentence1, column 2 as sentence2."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining

    data = load_bitext(path)
    metadata = TaskMetadata(
        name=name or f"Local-{Path(path).stem}",
        type="BitextMining",
        main_score="f1",
        eval_splits=["test"],
        prompt=instruction or None,
        **_GENERAL,
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        rows = {"sentence1": data.sentences1, "sentence2": data.sentences2}
        self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
        self.data_loaded = True

    return type("LocalBitextTask", (AbsTaskBitextMining,), {"metadata": metadata, "load_data": load_data})()


def local_task(item: str, instruction: str | None = None) -> Any | None:
    """The local task an ``--tasks`` item names (an existing dir or .tsv/.csv file), else None."""
    path = Path(item).expanduser()
    if path.is_dir():
        return beir_task(path, instruction=instruction)
    if path.is_file():
        if path.suffix.lower() == ".tsv" and _is_bitext(path):
            return bitext_task(path, instruction=instruction)
        if path.suffix.lower() in (".tsv", ".csv"):
            return sts_task(path, instruction=instruction)
        raise EvalError(f"--tasks {item}: a local task is a BEIR dir or a .tsv/.csv STS file")
    return None


def _is_bitext(path: Path) -> bool:
    """A two-column header without the STS columns: language names, as eval.bitext reads them."""
    with path.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split("\t")
    return len(header) == 2 and "sentence1" not in header
