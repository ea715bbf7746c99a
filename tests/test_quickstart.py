"""README command 1 as a user runs it, with no key and no server: ./quickstart.sh on the embedded
model, end to end. Opt-in (pytest -m slow): about 15 minutes on 2 cores. It reuses this checkout's
.venv (setup.sh installs only what is missing) and writes its run under a temporary SYNTHEMBED_OUT."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_runs_the_main_job_on_the_embedded_model(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(SYNTHEMBED_OUT=str(tmp_path / "qs"), SYNTHEMBED_ROWS="16")
    result = subprocess.run(
        ["./quickstart.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=3600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "generating with the embedded smollm2-135m-instruct" in result.stderr
    assert "quickstart: done in" in result.stdout and "What next" in result.stdout
    run = tmp_path / "qs" / "run"
    stats = json.loads((run / "data" / "stats.json").read_text())
    assert stats["generator"]["backend"] == "local" and stats["generator"]["model"] == "smollm2-135m-instruct"
    assert "smollm2-135m-instruct" in (run / "data" / "README.md").read_text()  # the data card names it
    report = json.loads((run / "report.json").read_text())
    assert {"base", "tuned", "result"} <= set(report["metrics"]["ndcg_at_10"])
    verdict = report["verdict"]
    assert verdict["judged_on"] == "your queries (--eval-data)"
    assert report["eval_data"]["queries"] == 807  # the experts' claims, scored base and result
    assert f"synth.adapt: {verdict['line']}" in result.stderr  # the CLI's last line is the verdict
    assert (run / "report.md").exists() and (run / "report.png").exists()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(run / "model"), device="cpu")
    assert model.encode(["Vitamin D lowers the risk of fractures."]).shape[1] == 384
