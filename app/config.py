"""Settings from `GLM_*` environment variables, read when asked (tests change them per run)."""

from __future__ import annotations

import os
from pathlib import Path

from models.settings import ModelSettings, env_bool, env_float, env_int, env_str

__all__ = [
    "ModelSettings",
    "data_dir",
    "env_bool",
    "env_float",
    "env_int",
    "env_str",
    "max_steps",
    "tool_modules",
]


def data_dir() -> Path:
    """`GLM_DATA_DIR`, created on first use."""
    path = Path(env_str("GLM_DATA_DIR", str(Path.home() / ".glm-studio"))).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_steps() -> int:
    return max(1, env_int("GLM_MAX_STEPS", 10))


def tool_modules() -> list[str]:
    return [p for p in env_str("GLM_TOOLS").split(os.pathsep) if p.strip()]
