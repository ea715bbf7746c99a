"""Parsing `name[:weight],...` flags (--languages, --task-types, --task-mix)."""

from __future__ import annotations

from collections.abc import Callable, Collection


def parse_weighted(
    spec: str,
    flag: str,
    valid: Collection[str],
    default_weight: Callable[[str], float],
    what: str,
    allow_weights: bool = True,
) -> dict[str, float]:
    """`"a,b:2"` -> {"a": default_weight("a"), "b": 2.0}, with one-line errors naming `flag`.

    >>> parse_weighted("en,ko:2", "--languages", {"en", "ko"}, lambda _: 1.0, "language code")
    {'en': 1.0, 'ko': 2.0}
    """
    weights: dict[str, float] = {}
    for item in (i.strip() for i in spec.split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        name = name.strip()
        if name not in valid:
            raise ValueError(f"{flag}: unknown {what} {name!r}; valid: {', '.join(sorted(valid))}")
        if weight and not allow_weights:
            raise ValueError(f"{flag} takes names only ({item!r})")
        try:
            value = float(weight) if weight else default_weight(name)
        except ValueError:
            raise ValueError(f"{flag}: weight {weight!r} for {name!r} is not a number") from None
        if value <= 0:
            raise ValueError(f"{flag}: weight for {name!r} must be > 0, got {value}")
        weights[name] = value
    if not weights:
        raise ValueError(f"{flag}: no {what}s given")
    return weights
