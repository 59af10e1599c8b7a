"""Image generation models for the `cogview` tool: CogView in-process (diffusers) or an images API."""
