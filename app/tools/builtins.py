"""The app's own tools, registered once per process, plus the user's `GLM_TOOLS` modules."""

from __future__ import annotations

from collections.abc import Callable

from app.config import tool_modules
from app.tools.base import Tool
from app.tools.browser import make_browser_tool
from app.tools.python_tool import make_python_tool
from app.tools.registry import get_tool, load_plugins, register_builtin

BUILTINS: dict[str, Callable[[], Tool]] = {"python": make_python_tool, "simple_browser": make_browser_tool}


def load_tools() -> dict[str, str | None]:
    """Register missing built-in tools and import `GLM_TOOLS`; returns plugin path -> error or None."""
    for name, make in BUILTINS.items():
        if get_tool(name) is None:
            register_builtin(make())
    return load_plugins(tool_modules())
