"""Settings from `GLM_*` environment variables, read when asked (tests change them per run).

Every reader raises `ConfigError` (a `ValueError` naming the variable, its value and what is
accepted). `check_settings()` checks every variable the app reads at once, so a page can list all
the problems before anything fails halfway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from models.errors import ConfigError
from models.imagegen.settings import image_size, image_steps
from models.protocols import PROTOCOLS
from models.settings import (
    API_MODES,
    BACKENDS,
    ModelSettings,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
    env_url,
    max_context,
)

__all__ = [
    "SETTINGS",
    "ConfigError",
    "ModelSettings",
    "check_settings",
    "data_dir",
    "env_bool",
    "env_choice",
    "env_float",
    "env_int",
    "env_str",
    "env_url",
    "max_context",
    "max_steps",
    "mcp_timeout",
    "tool_modules",
]

AUTH_MODES = ("none", "password", "oidc")
SEARCH_BACKENDS = ("searxng", "duckduckgo", "brave", "tavily")


def data_dir() -> Path:
    """`GLM_DATA_DIR`, created on first use."""
    path = Path(env_str("GLM_DATA_DIR", str(Path.home() / ".glm-studio"))).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_steps() -> int:
    return env_int("GLM_MAX_STEPS", 10, minimum=1)


def tool_modules() -> list[str]:
    return [p for p in env_str("GLM_TOOLS").split(os.pathsep) if p.strip()]


def mcp_timeout() -> float:
    """`GLM_MCP_TIMEOUT`: seconds an MCP tool call (or a server's start) may take."""
    value = env_float("GLM_MCP_TIMEOUT", 60.0)
    if value <= 0:
        raise ConfigError("GLM_MCP_TIMEOUT", str(value), "seconds above 0, such as 60 (the default)")
    return value


def _whole(name: str) -> object:
    return env_int(name, 0, 0, "a whole number ≥ 0")


Check = Callable[[str], object] | None

SETTINGS: dict[str, Check] = {
    "GLM_BACKEND": partial(env_choice, choices=BACKENDS),
    "GLM_MODEL": None,
    "GLM_VISION_MODEL": None,
    "GLM_API_BASE": env_url,
    "GLM_API_KEY": None,
    "GLM_API_MODE": partial(env_choice, choices=API_MODES),
    "GLM_VISION_BACKEND": partial(env_choice, choices=BACKENDS),
    "GLM_VISION_API_BASE": env_url,
    "GLM_VISION_API_KEY": None,
    "GLM_PROTOCOL": partial(env_choice, choices=PROTOCOLS),
    "GLM_TRUST_REMOTE_CODE": env_bool,
    "GLM_MAX_CONTEXT": lambda _: max_context(),
    "GLM_TORCH_THREADS": _whole,
    "GLM_MAX_STEPS": lambda _: max_steps(),
    "GLM_TOOLS": None,
    "GLM_MCP_CONFIG": None,
    "GLM_MCP_TIMEOUT": lambda _: mcp_timeout(),
    "GLM_DATA_DIR": None,
    "GLM_AUTH": partial(env_choice, choices=AUTH_MODES),
    "GLM_AUTH_FILE": None,
    "GLM_ADMINS": None,
    "GLM_KERNEL_TIMEOUT": _whole,
    "GLM_KERNEL_MEMORY_MB": _whole,
    "GLM_KERNEL_FILE_MB": _whole,
    "GLM_KERNEL_DISK_MB": _whole,
    "GLM_KERNEL_TMP_MB": _whole,
    "GLM_KERNEL_MAX_OUTPUT": _whole,
    "GLM_KERNEL_IDLE_S": _whole,
    "GLM_KERNEL_POOL": _whole,
    "GLM_KERNEL_MAX_PROCS": _whole,
    "GLM_KERNEL_NETWORK": env_bool,
    "GLM_KERNEL_SANDBOX": env_bool,
    "GLM_KERNEL_CPUS": partial(env_float, default=1.0),
    "GLM_SEARCH_BACKEND": partial(env_choice, choices=SEARCH_BACKENDS),
    "GLM_SEARXNG_URL": env_url,
    "GLM_BRAVE_API_KEY": None,
    "GLM_TAVILY_API_KEY": None,
    "GLM_BRAVE_URL": env_url,
    "GLM_TAVILY_URL": env_url,
    "GLM_BROWSER_ALLOW": None,
    "GLM_BROWSER_TIMEOUT": partial(env_float, default=15.0),
    "GLM_BROWSER_CONNECT_TIMEOUT": partial(env_float, default=5.0),
    "GLM_BROWSER_MAX_BYTES": _whole,
    "GLM_BROWSER_PAGE_CHARS": _whole,
    "GLM_MAX_UPLOAD_MB": _whole,
    "GLM_DOC_PARSE_TIMEOUT": _whole,
    "GLM_DOC_PARSE_MEMORY_MB": _whole,
    "GLM_DOC_QUERY_EXPANSION": env_bool,
    "GLM_EMBED_MODEL": None,
    "GLM_EMBED_API_BASE": env_url,
    "GLM_EMBED_API_KEY": None,
    "GLM_EMBED_API_MODEL": None,
    "GLM_IMAGE_MODEL": None,
    "GLM_IMAGE_API_BASE": env_url,
    "GLM_IMAGE_API_KEY": None,
    "GLM_IMAGE_API_MODEL": None,
    "GLM_IMAGE_SIZE": image_size,
    "GLM_IMAGE_STEPS": image_steps,
}
"""Every `GLM_*` variable the app reads, with how its value is checked (None: any text goes)."""


def check_settings() -> list[ConfigError]:
    """Every `GLM_*` variable whose value the app can't use, in `SETTINGS` order (empty: all fine)."""
    problems = []
    for name, check in SETTINGS.items():
        if check is None:
            continue
        try:
            check(name)
        except ConfigError as problem:
            problems.append(problem)
    return problems
