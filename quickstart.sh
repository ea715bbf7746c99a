#!/usr/bin/env bash
# Quick start, command 1: set everything up, then generate.
# With OPENAI_API_KEY or OPENAI_BASE_URL set it makes a small real run (40 examples) into data/quickstart;
# otherwise it prints the dry-run plan for the paper-sized run and how to run it for real.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
PY=.venv/bin/python
MODEL=${SYNTHEMBED_MODEL:-gpt-4o-mini}
if [ -n "${OPENAI_BASE_URL:-}" ]; then
  exec $PY -m synth.generate --backend openai --base-url "$OPENAI_BASE_URL" --model "$MODEL" \
    --num-examples 40 --languages en,de,ko --out data/quickstart
elif [ -n "${OPENAI_API_KEY:-}" ]; then
  exec $PY -m synth.generate --backend openai --model "$MODEL" --num-examples 40 \
    --languages en,de,ko --out data/quickstart
else
  $PY -m synth.generate --dry-run --model "$MODEL" --num-examples 500000 --out data/quickstart-plan
  cat <<TXT

No OPENAI_API_KEY or OPENAI_BASE_URL set, so this was the plan only (no calls were made).
To generate for real:
  export OPENAI_API_KEY=sk-...                       # or OPENAI_BASE_URL=http://localhost:8000/v1 for vLLM serve
  ./quickstart.sh                                    # a small 40-example run into data/quickstart
  .venv/bin/python -m synth.generate --backend openai --model $MODEL --num-examples 2000 --out data/run1
TXT
fi
