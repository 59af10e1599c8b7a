"""Make PyPI's torchvision 0.28.0 importable beside the CPU build of torch 2.13 (run by install_vllm.sh
with .venv-vllm's python).

Why: PyPI's Linux torchvision wheel is built for CUDA. Its C++ ops library `torchvision/_C.so` links
`libc10_cuda.so` and `libtorch_cuda.so`, which the CPU torch doesn't have, so it fails to load.
torchvision expects that (`torchvision.extension._has_ops()` is then False, and the meta kernels of
`_meta_registrations.py` are registered only `if _has_ops()`), except for two fake-tensor registrations
in that file, `torchvision::nms` and `torchvision::qnms`, which are made unconditionally:
`torch.library.register_fake` then raises "operator torchvision::nms does not exist" and
`import torchvision` fails, and with it transformers' torchvision-backed processors (the GLM-4.1V video
processor vLLM loads for a Glm4v model).

The patch puts those two under the same condition as the others. Nothing is lost: without `_C.so`
there is no nms kernel for a fake to describe (`torchvision.ops.nms` raises torchvision's own "Couldn't
load custom C++ ops" error), and vLLM's GLM-4.1V path uses only the Python transforms. It checks the file
is the one it was written for and fails loudly otherwise; run twice, it leaves a patched file alone.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

VERSION = "0.28.0"
OPS = ("nms", "qnms")
MARK = "# conditional: install_vllm.sh"
GUARD = "torchvision.extension._has_ops()"


def decorator(op: str) -> str:
    return f'@torch.library.register_fake("torchvision::{op}")'


def patched(op: str) -> str:
    return f"@({decorator(op)[1:]} if {GUARD} else (lambda fn: fn))  {MARK}"


def fail(message: str) -> None:
    sys.exit(f"patch_torchvision: {message}")


def main() -> None:
    version = importlib.metadata.version("torchvision")
    if version != VERSION:
        fail(f"torchvision {version} is installed, this patch is for {VERSION}")
    spec = importlib.util.find_spec("torchvision")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        fail("torchvision's folder not found")
    path = Path(next(iter(spec.submodule_search_locations))) / "_meta_registrations.py"
    text = path.read_text("utf-8")
    if all(text.count(patched(op)) == 1 for op in OPS):
        print(f"patch_torchvision: {path} already patched")
        return
    lines = text.splitlines(keepends=True)
    registrations = [line for line in lines if "register_fake" in line]
    expected = [decorator(op) + "\n" for op in OPS]
    if registrations != expected or "import torchvision.extension" not in text or GUARD not in text:
        fail(f"{path} is not the file this patch expects (register_fake lines: {registrations})")
    for op in OPS:
        text = text.replace(decorator(op) + "\n", patched(op) + "\n")
    path.write_text(text, "utf-8")
    check = (
        "import torchvision, torchvision.transforms.v2.functional; print(torchvision.extension._has_ops())"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"torchvision still fails to import after patching {path}:\n{result.stderr[-2000:]}")
    print(f"patch_torchvision: patched {path} (C++ ops loaded: {result.stdout.strip()})")


if __name__ == "__main__":
    main()
