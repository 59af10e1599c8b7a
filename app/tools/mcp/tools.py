"""MCP servers' tools as registry tools named `server__tool`, kept in step with the servers.

`sync_mcp_tools()` runs on every All Tools page run: it starts the process's hub on first use (and
reconnects when `GLM_MCP_CONFIG`'s file changes), then registers the tools the servers list now and
removes those they dropped. A server that is down keeps its last known tools, whose calls then say so.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import mcp_types as types

from app.config import mcp_timeout
from app.errors import McpCallError, ToolDefinitionError
from app.tools.base import Tool, ToolContext, ToolResult
from app.tools.mcp.config import config_path, load_config
from app.tools.mcp.hub import McpHub, ServerStatus, describe
from app.tools.mcp.results import render_result
from app.tools.registry import all_tools, check_arguments, register_external, unregister

ORIGIN = "mcp:"
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

_lock = threading.Lock()
_hub: McpHub | None = None
_config_key: tuple[str, str, float] | None = None
_config_errors: list[str] = []


@dataclass
class McpSetup:
    """What the sidebar shows: each server's status, and problems with the config or the tools."""

    servers: list[ServerStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def tool_name(server: str, tool: str) -> str:
    """`server__tool`, with characters function names can't hold replaced by `_`, at most 64 long."""
    return f"{server}__{_UNSAFE.sub('_', tool)}"[:MAX_NAME]


def hub(settle_s: float = 0.0) -> McpHub | None:
    """The process's hub for `GLM_MCP_CONFIG` (None when it is unset), reconfigured when the file
    changed; after (re)configuring, waits up to `settle_s` for the servers to come up or fail."""
    global _hub, _config_key, _config_errors
    path = config_path()
    with _lock:
        key = (path, _file_digest(path), mcp_timeout()) if path else None
        if key == _config_key:
            return _hub
        config = load_config(path) if path else None
        if _hub is not None and (config is None or _hub.timeout != key[2]):
            _hub.close()
            _hub = None
        if config is not None:
            if _hub is None:
                _hub = McpHub(key[2])
            try:
                _hub.configure(config.servers)
            except Exception as exc:
                config.errors.append(f"GLM_MCP_CONFIG: the servers could not be (re)started: {describe(exc)}")
            _hub.settle(settle_s)
        _config_key, _config_errors = key, config.errors if config else []
        return _hub


def sync_mcp_tools(settle_s: float = 0.0) -> McpSetup:
    """Register the servers' current tools (and unregister vanished ones); returns what to show.

    `settle_s`: when the servers were just (re)started, how long to wait for them to list their tools.
    """
    current = hub(settle_s)
    setup = McpSetup(problems=list(_config_errors))
    wanted: dict[str, Tool] = {}
    if current is not None:
        setup.servers = current.servers()
        for status in setup.servers:
            for listed in status.tools:
                made = _make_tool(current, status.name, listed)
                if isinstance(made, str):
                    setup.problems.append(made)
                elif made.name in wanted:
                    setup.problems.append(f"{status.name}: two tools map to {made.name}; kept the first")
                else:
                    wanted[made.name] = made
    for tool in all_tools():
        if tool.source and tool.name not in wanted:
            unregister(tool.name)
    for tool in wanted.values():
        try:
            register_external(tool, ORIGIN + tool.source)
        except ToolDefinitionError as exc:
            setup.problems.append(f"{tool.source}: {exc}; its tool is left out")
    return setup


def shutdown() -> None:
    """Stop the servers (registered with atexit): stdio processes end with the app."""
    global _hub, _config_key
    with _lock:
        if _hub is not None:
            _hub.close()
        _hub, _config_key = None, None


def _make_tool(current: McpHub, server: str, listed: types.Tool) -> Tool | str:
    schema = listed.input_schema
    if problem := _schema_problem(json.dumps(schema, sort_keys=True)):
        return f"{server}: the tool {listed.name!r} has an invalid input schema ({problem}); left out"
    name = tool_name(server, listed.name)
    description = listed.description or listed.title or f"{listed.name} (from the MCP server {server})"
    run = functools.partial(_run, current, server, listed.name, name, schema)
    return Tool(name=name, description=description, parameters=schema, run=run, source=server)


def _run(
    current: McpHub, server: str, tool: str, name: str, schema: dict[str, Any], text: str, ctx: ToolContext
) -> ToolResult:
    arguments = check_arguments(name, text, schema)
    if isinstance(arguments, ToolResult):
        return arguments
    try:
        result = current.call(server, tool, arguments, ctx.cancel)
    except McpCallError as exc:
        return ToolResult(str(exc), "system_error", is_error=True)
    return render_result(name, result)


@functools.lru_cache(maxsize=1024)
def _schema_problem(schema_json: str) -> str | None:
    """Why a schema isn't valid JSON Schema (checked once per distinct schema: it takes milliseconds,
    and every page run lists the tools)."""
    schema = json.loads(schema_json)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return exc.message
    return None


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.errno}"


atexit.register(shutdown)
