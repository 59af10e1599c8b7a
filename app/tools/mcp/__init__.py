"""Tools from MCP servers (`GLM_MCP_CONFIG`), through the official `mcp` SDK."""

from app.tools.mcp.tools import McpSetup, sync_mcp_tools, tool_name

__all__ = ["McpSetup", "sync_mcp_tools", "tool_name"]
