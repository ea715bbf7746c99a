"""Which instruction each input gets, following the E5-mistral evaluation protocol.

* Instructions come from the ``mteb`` task metadata (``TaskMetadata.prompt``, or the default prompt
  of the task's abstract class, e.g. "Retrieve semantically similar text." for STS); a JSON/YAML
  file maps task names (or task types) to instructions that override or add to them.
* Asymmetric tasks (retrieval, reranking): the instruction goes on queries only, documents get
  none. Symmetric tasks (STS, classification, clustering, pair classification, summarization): on
  every input. mteb marks documents with ``prompt_type=document``, so "no instruction for
  documents" is the whole rule.
* Classification embeddings are not L2-normalised (the paper's protocol: the logistic-regression
  probe is fit on raw embeddings).

    task_instruction(SciFact metadata, PromptType.query, {}) -> "Given a scientific claim, retrieve documents that support or refute the claim"
    task_instruction(SciFact metadata, PromptType.document, {}) -> None

``E5_MISTRAL_56`` is the paper's 56-task English MTEB set (MTEB(eng, v1) as mteb names it), so a
run is comparable to the paper's Table 1; MTEB's current English benchmark is a different set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.errors import EvalError

# The 56 English MTEB datasets of Wang et al. (2024), Table 1 / Appendix (CQADupStack counts as one).
E5_MISTRAL_56: tuple[str, ...] = (
    # Classification (12)
    "AmazonCounterfactualClassification", "AmazonPolarityClassification", "AmazonReviewsClassification",
    "Banking77Classification", "EmotionClassification", "ImdbClassification", "MassiveIntentClassification",
    "MassiveScenarioClassification", "MTOPDomainClassification", "MTOPIntentClassification",
    "ToxicConversationsClassification", "TweetSentimentExtractionClassification",
    # Clustering (11)
    "ArxivClusteringP2P", "ArxivClusteringS2S", "BiorxivClusteringP2P", "BiorxivClusteringS2S",
    "MedrxivClusteringP2P", "MedrxivClusteringS2S", "RedditClustering", "RedditClusteringP2P",
    "StackExchangeClustering", "StackExchangeClusteringP2P", "TwentyNewsgroupsClustering",
    # Pair classification (3)
    "SprintDuplicateQuestions", "TwitterSemEval2015", "TwitterURLCorpus",
    # Reranking (4)
    "AskUbuntuDupQuestions", "MindSmallReranking", "SciDocsRR", "StackOverflowDupQuestions",
    # Retrieval (15)
    "ArguAna", "ClimateFEVER", "CQADupstackRetrieval", "DBPedia", "FEVER", "FiQA2018", "HotpotQA", "MSMARCO",
    "NFCorpus", "NQ", "QuoraRetrieval", "SCIDOCS", "SciFact", "Touche2020", "TRECCOVID",
    # STS (10)
    "BIOSSES", "SICK-R", "STS12", "STS13", "STS14", "STS15", "STS16", "STS17", "STS22", "STSBenchmark",
    # Summarization (1)
    "SummEval",
)  # fmt: skip
# Named task sets for --tasks, and the mteb benchmark each one is (same tasks, splits and subsets).
TASK_SETS: dict[str, tuple[tuple[str, ...], str]] = {"e5-mistral-56": (E5_MISTRAL_56, "MTEB(eng, v1)")}
NO_NORMALIZE_TYPES = frozenset({"Classification", "MultilabelClassification"})


def task_instruction(metadata: Any, prompt_type: Any, overrides: dict[str, str]) -> str | None:
    """The instruction for one call of ``encode`` in mteb, or None (documents, or no instruction known).

    Order: override by task name, override by task type, the task's own prompt, its abstask default.
    """
    if prompt_type is not None and getattr(prompt_type, "value", prompt_type) == "document":
        return None
    if metadata.name in overrides:
        return overrides[metadata.name]
    if metadata.type in overrides:
        return overrides[metadata.type]
    prompt = metadata.prompt
    if isinstance(prompt, dict):
        prompt = prompt.get("query")
    if prompt:
        return prompt
    from mteb.abstasks.abstask import get_abstask_prompt

    return get_abstask_prompt(metadata.name) or None


def normalize_for(metadata: Any) -> bool | None:
    """False for classification (raw embeddings, as in the paper); None = the model's own setting."""
    return False if metadata.type in NO_NORMALIZE_TYPES else None


def load_overrides(path: Path | None) -> dict[str, str]:
    """Read ``{task name or task type: instruction}`` from a .json or .yaml/.yml file."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"--instructions {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise EvalError(f"--instructions {path}: expected a .json, .yaml or .yml file")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise EvalError(f"--instructions {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise EvalError(f"--instructions {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()
    ):
        raise EvalError(
            f"--instructions {path}: expected a mapping of task name (or type) to a non-empty instruction string"
        )
    return data


def check_override_keys(
    overrides: dict[str, str], path: Path | None, local_names: set[str] | None = None
) -> None:
    """Every key must be an mteb task name, a task type or a selected local task's name, so a typo
    fails instead of being ignored."""
    from typing import get_args

    import mteb
    from mteb.abstasks.task_metadata import TaskType

    types = set(get_args(TaskType))
    unknown = []
    for key in overrides:
        if key in types or key in (local_names or set()):
            continue
        try:
            mteb.get_task(key)
        except KeyError:
            unknown.append(key)
    if unknown:
        raise EvalError(
            f"--instructions {path}: unknown task name(s) {unknown}; use mteb task names or task types"
        )
