"""The single place tools are registered and looked up, and where a call becomes an observation."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from app.errors import PluginLoadError, ToolDefinitionError
from app.tools.base import Tool, ToolContext, ToolResult
from app.tools.schema import function_schema

BUILTIN_NAMES = frozenset({"python", "simple_browser", "cogview"})

_tools: dict[str, Tool] = {}
_origins: dict[str, str] = {}
_loaded_plugins: dict[str, str | None] = {}


def register_tool(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: make a typed, documented function callable by the model.

    The schema comes from the type hints and the Google-style docstring; registration fails with
    `ToolDefinitionError` on a missing annotation or description, or a reserved or taken name.
    """
    schema = function_schema(func)
    name = schema["name"]
    if name in BUILTIN_NAMES:
        raise ToolDefinitionError(f"{name!r} is a built-in tool's name; choose another")
    origin = f"{func.__module__}.{func.__qualname__}"
    if name in _tools and _origins.get(name) != origin:
        raise ToolDefinitionError(f"a tool named {name!r} is already registered by {_origins[name]}")
    _tools[name] = Tool(
        name=name,
        description=schema["description"],
        parameters=schema["parameters"],
        run=functools.partial(_call_function, func, schema["parameters"]),
    )
    _origins[name] = origin
    return func


def register_builtin(tool: Tool) -> None:
    """Add one of the app's own tools (`python`, `simple_browser`)."""
    _tools[tool.name] = tool
    _origins[tool.name] = "builtin"


def register_external(tool: Tool, origin: str) -> None:
    """Add (or replace) a tool that comes from outside the process, such as an MCP server's; refuses
    a name that a built-in or another origin's tool holds."""
    holder = _origins.get(tool.name)
    if tool.name in BUILTIN_NAMES or (holder is not None and holder != origin):
        holder = holder or "the app"
        raise ToolDefinitionError(f"a tool named {tool.name!r} is already registered by {holder}")
    _tools[tool.name] = tool
    _origins[tool.name] = origin


def origin_of(name: str) -> str | None:
    return _origins.get(name)


def unregister(name: str) -> None:
    _tools.pop(name, None)
    _origins.pop(name, None)


def all_tools() -> list[Tool]:
    return list(_tools.values())


def get_tool(name: str) -> Tool | None:
    return _tools.get(name)


def dispatch(name: str, text: str, ctx: ToolContext, tools: Sequence[Tool] | None = None) -> ToolResult:
    """Run one call; every failure comes back as an observation the model can read."""
    available = {t.name: t for t in (tools if tools is not None else all_tools())}
    tool = available.get(name)
    if tool is None:
        names = ", ".join(sorted(available)) or "(none)"
        return ToolResult(f"Unknown tool {name!r}. Available tools: {names}.", "system_error", is_error=True)
    try:
        return tool.run(text, ctx)
    except Exception as exc:
        return ToolResult(f"Tool {name!r} failed: {type(exc).__name__}: {exc}", "system_error", is_error=True)


def check_arguments(name: str, text: str, parameters: dict[str, Any]) -> dict[str, Any] | ToolResult:
    """The call's JSON arguments checked against the tool's schema, or the observation saying why not."""
    example = json.dumps({k: f"<{k}>" for k in parameters.get("required", [])}, ensure_ascii=False)
    try:
        arguments = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        return _error(
            f"The arguments for {name} are not valid JSON ({exc.msg}). Send one JSON object, e.g. {example}."
        )
    if not isinstance(arguments, dict):
        return _error(f"The arguments for {name} must be one JSON object, e.g. {example}.")
    schema_json = json.dumps(parameters, sort_keys=True)
    if exc := jsonschema.exceptions.best_match(_validator(schema_json).iter_errors(arguments)):
        where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
        return _error(
            f"Invalid arguments for {name}: {where}: {exc.message}. Expected schema: {json.dumps(parameters)}"
        )
    return arguments


@functools.lru_cache(maxsize=1024)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    """What `jsonschema.validate` builds on every call (checking the schema takes milliseconds), once
    per schema; raises `SchemaError` for a schema that isn't valid JSON Schema."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _call_function(
    func: Callable[..., Any], parameters: dict[str, Any], text: str, ctx: ToolContext
) -> ToolResult:
    name = func.__name__
    arguments = check_arguments(name, text, parameters)
    if isinstance(arguments, ToolResult):
        return arguments
    try:
        value = func(**arguments)
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return _error(f"{name} raised {type(exc).__name__}: {exc} (at line {frame.lineno})")
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return ToolResult(content)


def _error(message: str) -> ToolResult:
    return ToolResult(message, "system_error", is_error=True)


def load_plugins(paths: Sequence[str]) -> dict[str, str | None]:
    """Import each `GLM_TOOLS` file once per process; returns path -> error message (None when fine)."""
    for raw in paths:
        path = str(Path(raw).expanduser().resolve())
        if path in _loaded_plugins:
            continue
        try:
            _import_file(path)
            _loaded_plugins[path] = None
        except (PluginLoadError, ToolDefinitionError) as exc:
            _loaded_plugins[path] = str(exc)
    return {p: _loaded_plugins[str(Path(p).expanduser().resolve())] for p in paths}


def _import_file(path: str) -> None:
    module_name = f"glm_tools_{abs(hash(path)):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not Path(path).is_file():
        raise PluginLoadError(f"GLM_TOOLS: no Python file at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ToolDefinitionError:
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PluginLoadError(f"GLM_TOOLS: {path} failed to import: {type(exc).__name__}: {exc}") from exc
