"""matplotlib's font list, built once per app process and lent read-only to every kernel.

A kernel's `/tmp` (its matplotlib config folder) is new at each start, and building the font list
takes seconds (more on a busy machine, with many fonts), so every kernel's first plot paid for it.
The app builds it once, in the background, in a folder of its own; kernels started after that get
the file bound read-only into their `/tmp/.matplotlib`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from app.sandbox.owner import owner_tag

KERNEL_DIR = "/tmp/.matplotlib"  # the kernel's MPLCONFIGDIR (spec.kernel_env with home=/tmp)
_BUILD = "import matplotlib.font_manager as fm\nprint(f'fontlist-v{fm.FontManager.__version__}.json')"
_lock = threading.Lock()
_built: Path | None = None
_started = False


def _build(folder: Path) -> None:
    global _built
    env = {"PATH": os.environ.get("PATH", ""), "MPLCONFIGDIR": str(folder), "MPLBACKEND": "agg"}
    try:
        command = [sys.executable, "-c", _BUILD]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return
    path = folder / done.stdout.strip()
    if done.returncode == 0 and path.name and path.is_file():
        path.chmod(0o444)
        _built = path


def font_list() -> Path | None:
    """The built font list, or None while it is being built (the first call starts the build)."""
    global _started
    with _lock:
        if not _started:
            _started = True
            folder = Path(tempfile.mkdtemp(prefix=f"glm-kernel-fonts-{owner_tag()}-"))
            folder.chmod(0o755)
            atexit.register(shutil.rmtree, folder, True)
            threading.Thread(target=_build, args=(folder,), name="font-list", daemon=True).start()
    return _built
