"""Model settings saved from the app's Models page, in `models.json` under the data directory.

They are defaults under the environment: `models.settings` reads a `GLM_*` variable from the
environment first and from here only when it is unset, so a variable an admin exported still wins.
Only the model settings below are read from the file, and it is written owner-only (it may hold an
API key), whole, by an atomic rename.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

SAVED_FILE = "models.json"
KEYS = (
    "GLM_BACKEND",
    "GLM_MODEL",
    "GLM_API_BASE",
    "GLM_API_KEY",
    "GLM_API_MODE",
    "GLM_VISION_BACKEND",
    "GLM_VISION_MODEL",
    "GLM_VISION_API_BASE",
    "GLM_VISION_API_KEY",
)
"""The variables the Models page sets (text: server or folder; vision: the same, apart)."""

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, str]]] = {}


def saved_path() -> Path:
    """`models.json` in `GLM_DATA_DIR` (read from the environment only: it says where this file is)."""
    root = os.environ.get("GLM_DATA_DIR", "").strip() or str(Path.home() / ".glm-studio")
    return Path(root).expanduser() / SAVED_FILE


def read_saved() -> dict[str, str]:
    """The saved model settings (empty when none are saved), re-read only when the file changes."""
    path = saved_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == mtime:
            return cached[1]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = {}
    values = (
        {k: str(v).strip() for k, v in raw.items() if k in KEYS and isinstance(v, str)}
        if isinstance(raw, dict)
        else {}
    )
    with _lock:
        _cache[str(path)] = (mtime, values)
    return values


def write_saved(values: dict[str, str]) -> None:
    """Replace the saved model settings with `values` (empty values are dropped)."""
    kept = {k: v.strip() for k, v in values.items() if k in KEYS and v and v.strip()}
    path = saved_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(kept, out, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def from_environment(names: tuple[str, ...] = KEYS) -> list[str]:
    """Which of `names` the environment sets: those win over anything saved."""
    return [name for name in names if os.environ.get(name, "").strip()]


def _value(name: str) -> str:
    return os.environ.get(name, "").strip() or read_saved().get(name, "")


def is_configured(kind: str) -> bool:
    """Whether anyone chose a model of `kind` ("text" or "vision"), by variable or on the Models page.

    Without a choice the defaults name 9B hub checkpoints a newcomer doesn't have; the app then
    welcomes them to the Models page instead of trying to download. A text server (`GLM_BACKEND=openai`)
    counts for vision too, as the same server may serve it.
    """
    if kind == "text":
        return any(_value(name) for name in ("GLM_BACKEND", "GLM_MODEL", "GLM_API_BASE"))
    chosen = ("GLM_VISION_BACKEND", "GLM_VISION_MODEL", "GLM_VISION_API_BASE")
    return any(_value(name) for name in chosen) or _value("GLM_BACKEND").lower() == "openai"
