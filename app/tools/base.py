"""What a tool is, what it receives and what it returns."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.messages import Attachment

EMPTY_OBSERVATION = "(no output)"


@dataclass(frozen=True)
class Progress:
    """What a running tool reports for the UI: a `stage` (the tool's own word, such as "waiting" or
    "steps") and how far it is, `done` of `total` (0 of 0: no count)."""

    stage: str = ""
    done: int = 0
    total: int = 0


@dataclass
class ToolContext:
    """Per-session, per-conversation resources handed to a tool call.

    `state` is JSON-serialisable tool state owned by one conversation (the browser's citation map, say);
    `workdir` is the session's private folder (the code interpreter's /mnt/data); `progress` is
    replaced (never mutated) by a tool that reports how far it is, and read by the turn loop.
    """

    session_id: str
    workdir: Path
    state: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = field(default_factory=Progress)


@dataclass
class ToolResult:
    """An observation for the model plus display-only extras for the UI."""

    content: str
    metadata: str = ""
    is_error: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.content.strip():
            self.content = EMPTY_OBSERVATION


def _json_text(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False)


def _json_arguments(text: str) -> dict[str, Any]:
    return json.loads(text)


@dataclass(frozen=True)
class Tool:
    """A tool the model can call.

    `run` takes the call as GLM-4 writes it (code for `python`, Python-call syntax for
    `simple_browser`, a JSON object for functions). Chat-completions servers send structured
    arguments instead; `text_from_arguments` / `arguments_from_text` convert between the two.
    Built-in tools have their own entry in the GLM-4 template (`{"type": name}`). `source` names
    the MCP server a tool comes from (empty for the app's and the user's own tools).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[str, ToolContext], ToolResult]
    builtin: bool = False
    text_from_arguments: Callable[[dict[str, Any]], str] = _json_text
    arguments_from_text: Callable[[str], dict[str, Any]] = _json_arguments
    source: str = ""

    @property
    def function_schema(self) -> dict[str, Any]:
        """The OpenAI function object (name, description, parameters)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @property
    def template_entry(self) -> dict[str, Any]:
        """The entry for the GLM-4 template's `tools` list."""
        if self.builtin:
            return {"type": self.name}
        return {"type": "function", "function": self.function_schema}


def text_tool(
    name: str,
    description: str,
    parameter: str,
    parameter_description: str,
    run: Callable[[str, ToolContext], ToolResult],
) -> Tool:
    """A built-in tool whose call is one string (`python`'s code, the browser's command, CogView's
    prompt): declared as a function with that one required string parameter, and run on its text."""
    return Tool(
        name=name,
        description=description,
        parameters={
            "type": "object",
            "properties": {parameter: {"type": "string", "description": parameter_description}},
            "required": [parameter],
        },
        run=run,
        builtin=True,
        text_from_arguments=lambda arguments: arguments[parameter],
        arguments_from_text=lambda text: {parameter: text},
    )
