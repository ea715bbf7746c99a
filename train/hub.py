"""``--push-to-hub``: upload the exported model dir, never checkpoints or logs of the run."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# Training state stays local: checkpoints hold optimizer state; runs/ and metrics.jsonl are logs.
IGNORE = ["checkpoints/*", "checkpoints/**", "runs/*", "runs/**", "metrics.jsonl", "*.lock"]


def push(output: Path, repo_id: str, private: bool = False) -> str:
    """Create ``repo_id`` if needed and upload ``output``; the token comes from HF_TOKEN or `hf auth login`."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(output),
        repo_id=repo_id,
        repo_type="model",
        ignore_patterns=IGNORE,
        commit_message="Upload embedding model trained with synthembed train.lora",
    )
    log.info("pushed %s to %s", output, repo_id)
    return str(info)
