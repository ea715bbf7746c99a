"""One check of a local model dir, shared by every command that loads a model (train, eval, synth.adapt).

A local dir is a model dir when it holds one of

    synthembed.json   a model train.lora exported
    modules.json      a sentence-transformers model
    config.json       a plain Hugging Face model

    check_model_dir("models/empty", "--model")
    -> ModelDirError "--model models/empty: no synthembed.json (a synthembed model), modules.json
       (a sentence-transformers model) or config.json (a Hugging Face model) found"

A name that is no local path is left to the caller: it may be a Hub id, which only the loader can
resolve. Not checked here: whether the weights inside load (the loader says why, in one line).
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILES = {
    "synthembed.json": "a synthembed model",
    "modules.json": "a sentence-transformers model",
    "config.json": "a Hugging Face model",
}


class ModelDirError(ValueError):
    """A local path that is not a model dir; `str(err)` is the one line to print."""


def missing_model_files(root: Path, flag: str) -> str:
    """The line for a dir that holds none of MODEL_FILES."""
    kinds = [f"{name} ({what})" for name, what in MODEL_FILES.items()]
    return f"{flag} {root}: no {', '.join(kinds[:-1])} or {kinds[-1]} found"


def check_model_dir(name: str, flag: str) -> Path | None:
    """The local model dir `name` names, checked; None when `name` is no local path (a Hub id, say)."""
    path = Path(name).expanduser()
    if not path.exists():
        return None
    if not path.is_dir():
        raise ModelDirError(f"{flag} {name}: not a directory")
    if not any((path / file).is_file() for file in MODEL_FILES):
        raise ModelDirError(missing_model_files(path, flag))
    return path
