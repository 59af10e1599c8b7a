#!/usr/bin/env bash
# Installs everything GLM Studio needs on a Debian/Ubuntu machine with Python 3.11:
# bubblewrap, libseccomp2 and e2fsprogs (the code interpreter's sandbox, seccomp filter and per-conversation
# filesystems), Chromium (end-to-end tests) and a virtualenv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in bubblewrap libseccomp2 e2fsprogs chromium; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# The CPU build of torch first: a bare "torch" requirement would pull a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
# The repository on the venv's path: `streamlit run app/main.py` adds only app/ itself, and a first
# request for a workspace runs its file of app/pages/ before main.py could add the root.
root="$(pwd)"
.venv/bin/python -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/glm_studio.pth", "w").write(sys.argv[1] + "\n")' "$root"
