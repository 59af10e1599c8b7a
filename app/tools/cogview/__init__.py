"""The `cogview` tool (image generation) and how the sidebar describes its state."""

from app.tools.cogview.tool import make_cogview_tool, run_cogview

__all__ = ["make_cogview_tool", "run_cogview"]
