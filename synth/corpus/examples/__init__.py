"""Small real corpora that ship with synthembed, for the quick start and for trying things offline.

    python -m synth.corpus.examples scifact-mini DIR    # 1,000 SciFact abstracts + 807 expert claims (BEIR)

Each is a folder here with a SOURCE.md (origin, licences); gzipped files are written out unzipped.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = tuple(sorted(p.name for p in HERE.iterdir() if p.is_dir() and (p / "SOURCE.md").exists()))


def write_example(name: str, out: Path) -> Path:
    """Write example `name` into `out` (created; files already there with the same name are replaced
    only if this function wrote them, i.e. they are byte-identical: a rerun is a no-op)."""
    src = HERE / name
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; valid: {', '.join(EXAMPLES)}")
    for path in sorted(src.rglob("*")):
        if path.is_dir() or path.name == "__init__.py":
            continue
        rel = path.relative_to(src)
        target = out / (rel.with_suffix("") if path.suffix == ".gz" else rel)
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if target.exists():
            if target.read_bytes() != data:
                raise FileExistsError(
                    f"{target} exists and differs from the example's file; choose another dir"
                )
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(target)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write(f"usage: python -m synth.corpus.examples {{{','.join(EXAMPLES)}}} DIR\n")
        return 2
    try:
        write_example(args[0], Path(args[1]))
    except (ValueError, OSError) as err:
        sys.stderr.write(f"synth.corpus.examples: error: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
