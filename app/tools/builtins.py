"""The app's own tools, registered once per process, plus the user's `GLM_TOOLS` modules."""

from __future__ import annotations

import functools

from app.config import tool_modules
from app.tools.browser import make_browser_tool
from app.tools.python_tool import make_python_tool
from app.tools.registry import load_plugins, register_builtin


@functools.cache
def _register_builtins() -> None:
    register_builtin(make_python_tool())
    register_builtin(make_browser_tool())


def load_tools() -> dict[str, str | None]:
    """Register the built-in tools and import `GLM_TOOLS`; returns plugin path -> error (None if fine)."""
    _register_builtins()
    return load_plugins(tool_modules())
