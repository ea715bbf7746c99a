"""`python -m synth.publish DIR --repo org/name`: upload a dataset dir as a Hugging Face Hub dataset repo.

The folder is a valid Hub dataset repo as it stands (design.md), so publishing is create_repo +
upload_folder, minus `.synth/` (journal, response cache, rejects, plans: never published) and
half-written temporaries. The card is re-rendered first when stats.json is newer than it.

Uploading only reads the dataset files, and the Hub applies a commit all or nothing, so after a
failed upload (network error, 401, 5xx) the local dir is untouched and the same command can simply
be run again. The token comes from the caller (`publish(token=...)`), HF_TOKEN or the saved
`hf auth login`, and never appears in output: errors are one line, redacted.

Not handled: pull requests; remote files outside data/ and plots/ are never deleted.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import parse
from synth.card.render import NotADatasetDir, load_stats, write_card
from synth.run.secrets import redact, redacted_logging

PROG = "synth.publish"
# Patterns are matched against paths relative to the dir (fnmatch: `*` also crosses `/`).
IGNORE_PATTERNS = [".synth/*", ".synth/**", "*.tmp"]
# Remote files under these that are gone locally are deleted in the same commit: a stale shard left
# in data/ would otherwise be read by the card's `data/*.parquet` config as part of the dataset.
DELETE_PATTERNS = ["data/*", "plots/*"]
log = logging.getLogger(PROG)


class PublishError(RuntimeError):
    """One line for the user: what failed, and whether running again can help. Never holds the token."""


def resolve_token(token: str | None) -> str:
    from huggingface_hub import get_token

    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return token


def check_repo_id(repo: str, flag: str = "--repo") -> None:
    """Fail before any network call (or, from synth.generate, before any money is spent)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError:
        raise PublishError(
            f"{flag}: {repo!r} is not a valid repo id; use 'org/name' (letters, digits, '-', '_', '.')"
        ) from None
    if repo.count("/") != 1:
        raise PublishError(f"{flag}: {repo!r} must be 'org/name' (or 'user/name')")


def refresh_card(out: Path) -> bool:
    """Re-render README.md and plots when stats.json changed after the card was written."""
    readme, stats = out / "README.md", out / "stats.json"
    if readme.is_file() and readme.stat().st_mtime_ns >= stats.stat().st_mtime_ns:
        return False
    log.info("stats.json is newer than README.md: re-rendering the card")
    write_card(out)
    return True


def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport errors of the HTTP client huggingface_hub uses (httpx2 in 2.x, httpx in 1.x)."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)


def _retryable(what: str, err: BaseException, token: str) -> PublishError:
    detail = str(err).splitlines()[0] if str(err) else ""
    message = (
        f"{what} ({type(err).__name__}: {detail}); nothing local was changed; run the same command again"
    )
    return PublishError(redact(message, (token,)))


def describe_http_error(err, repo: str) -> str:
    status = err.response.status_code
    again = "nothing local was changed; run the same command again"
    if status == 401:
        return "the Hub rejected the token (401): check HF_TOKEN or run `hf auth login`"
    if status == 403:
        return f"the token may not write to {repo} (403): use a token with write access to that namespace"
    if status == 404:
        return f"{repo} or its branch was not found (404)"
    server = str(err).splitlines()[0] if str(err) else ""
    return f"the Hub failed ({status}: {server}); {again}"


def publish(
    out: Path,
    repo: str,
    private: bool = False,
    token: str | None = None,
    *,
    revision: str = "main",
    endpoint: str | None = None,
) -> str:
    """Upload OUT to the dataset repo REPO (created if missing); returns the repo's URL.

    Raises PublishError (one redacted line) for every failure a user can act on.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        stats = load_stats(out)
    except NotADatasetDir as err:
        raise PublishError(str(err)) from None
    check_repo_id(repo)
    token = resolve_token(token)
    if stats.get("status", "complete") != "complete":
        log.warning(
            "publishing an unfinished run (%s): %s of %s rows",
            stats["status"],
            stats["rows"],
            stats.get("target"),
        )
    refresh_card(out)
    api = HfApi(endpoint=endpoint, token=token)
    message = (
        f"synthembed: {stats['rows']} rows, {len(stats['per_language'])} languages ({stats.get('status')})"
    )
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo, repo_type="dataset", branch=revision, exist_ok=True)
        api.upload_folder(
            repo_id=repo,
            repo_type="dataset",
            folder_path=out,
            revision=revision,
            ignore_patterns=list(IGNORE_PATTERNS),
            delete_patterns=list(DELETE_PATTERNS),
            commit_message=message,
        )
    except HfHubHTTPError as err:
        raise PublishError(redact(describe_http_error(err, repo), (token,))) from None
    except _network_errors() as err:
        raise _retryable("network error talking to the Hub", err, token) from None
    except RuntimeError as err:
        # huggingface_hub wraps a failed LFS upload in RuntimeError (the HTTP error is its cause), and
        # hf_xet's Rust client raises RuntimeError subclasses of its own: either way the upload failed
        # part way, the Hub committed nothing, and the user needs the reason, not a traceback.
        raise _retryable("upload failed", err.__cause__ or err, token) from None
    return str(url) if revision == "main" else f"{url}/tree/{revision}"


@dataclass
class PublishConfig:
    """The flags of `python -m synth.publish` (its description is the module's first line)."""

    dir: Path = field(metadata={"help": "dataset dir written by synth.generate", "positional": True})
    repo: str = field(metadata={"help": "Hub dataset repo id, 'org/name'"})
    private: bool = field(default=False, metadata={"help": "create the repo private (if it does not exist)"})
    revision: str = field(
        default="main", metadata={"help": "branch to commit to (created from main if missing)"}
    )


def cli(argv: list[str] | None = None) -> int:
    redacted_logging(logging.WARNING, quiet=())
    cfg = parse(PublishConfig, argv, PROG, __doc__.splitlines()[0].split(": ", 1)[1])
    try:
        url = publish(cfg.dir, cfg.repo, cfg.private, None, revision=cfg.revision)
    except PublishError as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
