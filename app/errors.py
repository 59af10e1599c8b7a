"""The app's few specific errors."""


class ToolDefinitionError(ValueError):
    """A function can't be registered as a tool (missing hints or descriptions, reserved name)."""


class PluginLoadError(ImportError):
    """A `GLM_TOOLS` module could not be imported."""


class McpCallError(RuntimeError):
    """A call to an MCP server's tool got no result (server down, timed out, crashed, sent garbage,
    stopped); the message is the observation the model reads."""
