"""Tools the model can call. Users add their own with `from app.tools import register_tool`."""

from app.tools.registry import register_tool

__all__ = ["register_tool"]
