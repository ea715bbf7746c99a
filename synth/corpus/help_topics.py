"""A real corpus on every machine: the help topics of CPython's language reference (`pydoc_data`,
shipped with every Python), one .txt file per topic. The quick start adapts an embedder to it.

    python -m synth.corpus.help_topics DIR      # writes DIR/<topic>.txt, prints how many
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_help_topics(folder: Path, limit: int | None = None) -> int:
    """Write the help topics (the first `limit` by name, or all) into `folder`; returns how many.
    Files already there with the same text are left as they are, so a rerun changes nothing."""
    from pydoc_data.topics import topics

    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(topics)[:limit]
    for name in names:
        path = folder / f"{name}.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != topics[name]:
            path.write_text(topics[name], encoding="utf-8")
    return len(names)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m synth.corpus.help_topics DIR", file=sys.stderr)
        return 2
    n = write_help_topics(Path(args[0]))
    print(
        f"synth.corpus.help_topics: {n} help topics of Python {sys.version.split()[0]} in {args[0]}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
