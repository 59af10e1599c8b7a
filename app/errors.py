"""The app's few specific errors."""


class ToolDefinitionError(ValueError):
    """A function can't be registered as a tool (missing hints or descriptions, reserved name)."""


class PluginLoadError(ImportError):
    """A `GLM_TOOLS` module could not be imported."""
