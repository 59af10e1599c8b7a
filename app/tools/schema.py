"""Turn a typed, documented Python function into an OpenAI function schema."""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

from app.errors import ToolDefinitionError

_SIMPLE_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_SECTION_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def json_schema_for(annotation: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one Python annotation (str, int, float, bool, Literal, list, dict, Optional)."""
    if annotation in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[annotation]}
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        kinds = {_SIMPLE_TYPES.get(type(v)) for v in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        item = args[0] if args else None
        schema = {"type": "array"}
        if item is not None and item is not Ellipsis:
            schema["items"] = json_schema_for(item, where)
        return schema
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            inner = json_schema_for(options[0], where)
            if "type" in inner and len(options) < len(args):
                inner = {**inner, "type": [inner["type"], "null"]}
            return inner
        return {"anyOf": [json_schema_for(a, where) for a in args]}
    raise ToolDefinitionError(f"{where}: type {annotation!r} can't be described to the model")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument descriptions."""
    description: list[str] = []
    arguments: dict[str, str] = {}
    section = "description"
    current = ""
    for line in inspect.cleandoc(doc).splitlines():
        if _ARGS_HEADER.match(line):
            section = "args"
            continue
        if section == "args" and _SECTION_HEADER.match(line) and not line.startswith((" ", "\t")):
            section = "other"
            continue
        if section == "description":
            description.append(line)
        elif section == "args":
            match = _ARG_LINE.match(line)
            if match and (not line.startswith("        ") or not current):
                current = match.group(1).lstrip("*")
                arguments[current] = match.group(2).strip()
            elif current and line.strip():
                arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), arguments


def function_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI function object for `func`; refuses functions that don't explain themselves."""
    name = func.__name__
    description, arg_docs = parse_docstring(func.__doc__ or "")
    if not description:
        raise ToolDefinitionError(f"tool {name!r} needs a docstring that says what it does")
    try:
        hints = typing.get_type_hints(func, include_extras=False)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: can't read its type hints: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(func).parameters.values():
        where = f"tool {name!r}, argument {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args and **kwargs can't be described to the model")
        if param.name not in hints:
            raise ToolDefinitionError(f"{where} has no type annotation")
        if not arg_docs.get(param.name):
            raise ToolDefinitionError(f"{where} has no description in the docstring's Args section")
        schema = {**json_schema_for(hints[param.name], where), "description": arg_docs[param.name]}
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            schema["default"] = param.default
        properties[param.name] = schema
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {"name": name, "description": description, "parameters": parameters}
