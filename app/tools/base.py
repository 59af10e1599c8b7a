"""What a tool is, what it receives and what it returns."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.sandbox.outputs import with_cut
from models.messages import Attachment

EMPTY_OBSERVATION = "(no output)"
LIVE_OUTPUT_CHARS = 20_000
STOPPED_TOOL = "Stopped by the user before the tool returned."


def stopped_observation(output: str) -> str:
    """What the model reads for a call the user stopped: that it was stopped, then what the tool had
    printed until then (the live output, bounded like any observation)."""
    return f"{STOPPED_TOOL} Its output until then:\n{output}" if output.strip() else STOPPED_TOOL


@dataclass(frozen=True)
class Progress:
    """What a running tool reports for the UI: a `stage` (the tool's own word, such as "waiting" or
    "steps") and how far it is, `done` of `total` (0 of 0: no count)."""

    stage: str = ""
    done: int = 0
    total: int = 0


class LiveOutput:
    """What a running tool has printed so far: written by the tool's thread, read by the turn loop's.

    Bounded as a cell's output for the model is (`app.sandbox.outputs.cap_text`): the first half of
    `limit` characters and a rolling tail of the other half, with the number cut between them, so a
    cell printing without end costs a fixed amount of memory and each read at most `limit` characters.
    """

    def __init__(self, limit: int = LIVE_OUTPUT_CHARS) -> None:
        self._half = max(limit // 2, 1)
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self._cut = 0
        self._version = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._version += 1
            if not self._tail and self._head_len < self._half:
                room = self._half - self._head_len
                self._head.append(text[:room])
                self._head_len += len(self._head[-1])
                text = text[room:]
                if not text:
                    return
            self._tail.append(text)
            self._tail_len += len(text)
            while self._tail_len > self._half:
                excess = self._tail_len - self._half
                if len(self._tail[0]) > excess:
                    self._tail[0] = self._tail[0][excess:]
                else:
                    excess = len(self._tail.popleft())
                self._tail_len -= excess
                self._cut += excess

    def read(self) -> tuple[int, str]:
        """How many writes there were (a version: unchanged means nothing new) and the text so far."""
        with self._lock:
            return self._version, with_cut("".join(self._head), self._cut, "".join(self._tail))


@dataclass
class ToolContext:
    """Per-session, per-conversation resources handed to a tool call.

    `state` is JSON-serialisable tool state owned by one conversation (the browser's citation map, say);
    `workdir` is the session's private folder (the code interpreter's /mnt/data); `progress` is
    replaced (never mutated) by a tool that reports how far it is, and read by the turn loop;
    `output` is where a tool writes what it prints while it runs (the loop gives each call a fresh
    one and shows it live; a tool may replace it with one of its own bound).
    """

    session_id: str
    workdir: Path
    state: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = field(default_factory=Progress)
    output: LiveOutput = field(default_factory=LiveOutput)


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
