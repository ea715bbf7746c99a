"""The progress bar moves as answers arrive (brainstorm included) and counts like the summary."""

from __future__ import annotations

import re

from .conftest import generate_cmd, read_stats, run_cli

BAR = re.compile(
    r"(\d+)/(\d+) \[.*?step=(\w+) brainstorm (\d+) \((\d+) rej[^)]*\) examples (\d+) \((\d+) rej[^)]*\)"
)


def bar_states(stderr: str) -> list[tuple[int, ...]]:
    """Every state the bar drew: (rows, brainstorm calls, brainstorm rejects, example calls, rejects)."""
    states = []
    for chunk in re.split(r"[\r\n]", stderr):
        if m := BAR.search(chunk):
            rows, _, _, b, b_rej, e, e_rej = m.groups()
            states.append((int(rows), int(b), int(b_rej), int(e), int(e_rej)))
    return states


def test_the_bar_moves_before_any_row_and_ends_like_the_summary(fake, tmp_path):
    """A slow server whose answers all fail validation for a while: no row for many calls, but the bar
    shows calls and rejects going up, step by step, as they arrive."""
    server = fake(latency=0.3, rate_malformed=0.6, rate_brainstorm_junk=0.5)
    out = tmp_path / "run"
    args = [
        "--num-examples",
        "12",
        "--concurrency",
        "2",
        "--languages",
        "en",
        "--task-types",
        "retrieval",
        "--progress",
    ]
    result = run_cli(generate_cmd(out, server.url, *args))
    assert result.returncode == 0, result.stderr
    states = bar_states(result.stderr)
    assert len(states) >= 5, result.stderr[-2000:]
    before_first_row = [s for s in states if s[0] == 0]
    assert len({s[1:] for s in before_first_row}) >= 3  # calls and rejects moved while rows stood at 0
    assert any(s[1] > 0 and s[3] == 0 for s in states)  # brainstorm answers show before any example's
    calls = [s[1] + s[3] for s in states]
    assert calls == sorted(calls)  # counts only grow
    # the last state equals what the summary and stats.json say, step by step
    stats = read_stats(out)
    a = stats["accounting"]
    assert states[-1] == (
        stats["rows"],
        a["brainstorm"]["calls"],
        a["brainstorm"]["rejected"],
        a["examples"]["calls"],
        a["examples"]["rejected"],
    )
    assert f"brainstorm: {a['brainstorm']['calls']} calls = " in result.stderr
    assert f"examples: {a['examples']['calls']} calls = {a['examples']['kept']} kept" in result.stderr
