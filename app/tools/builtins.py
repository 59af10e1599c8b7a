"""The app's own tools, registered once per process, plus the user's `GLM_TOOLS` modules."""

from __future__ import annotations

from collections.abc import Callable

from app.config import tool_modules
from app.sandbox import python_available
from app.tools.base import Tool
from app.tools.browser import make_browser_tool
from app.tools.cogview import make_cogview_tool
from app.tools.python_tool import make_python_tool
from app.tools.registry import get_tool, load_plugins, register_builtin, unregister
from models.imagegen.settings import ImageSettings

BUILTINS: dict[str, Callable[[], Tool]] = {"simple_browser": make_browser_tool}


def load_tools() -> dict[str, str | None]:
    """Register missing built-in tools and import `GLM_TOOLS`; returns plugin path -> error or None.

    `python` is rebuilt on every call (its description follows the timeout and the sandbox mode)
    and left out while it can't run (sandbox on, bubblewrap missing): the UI says why. `cogview` is
    offered only while image generation is configured (`GLM_IMAGE_MODEL` or `GLM_IMAGE_API_BASE`).
    """
    for name, make in BUILTINS.items():
        if get_tool(name) is None:
            register_builtin(make())
    if python_available():
        register_builtin(make_python_tool())
    else:
        unregister("python")
    if ImageSettings.from_env().mode == "off":
        unregister("cogview")
    elif get_tool("cogview") is None:
        register_builtin(make_cogview_tool())
    return load_plugins(tool_modules())
