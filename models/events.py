"""What a model backend streams: text, a tool call being written, a finished tool call, the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Part of a thinking model's reasoning (the `<think>` block of GLM-4.1V, GLM-4.5+), kept apart
    from the answer."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """Part of a tool call as the model writes it (for showing code while it streams). `index`
    counts the calls of one model step (GLM-4.5+ and chat servers may write several)."""

    name: str
    text: str
    index: int = 0


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call in GLM-4 form: `text` is code, Python-call syntax or a JSON object."""

    name: str
    text: str
    id: str = ""


@dataclass(frozen=True)
class Done:
    """End of one generation. `finish_reason`: "stop", "length", "cancelled" or "tool_call"."""

    finish_reason: str = "stop"
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """Something the user should know about how the request was served (not model output): `key` names
    the UI text (`app/ui/i18n.py`), `values` fill it in."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


ModelEvent = TextDelta | ReasoningDelta | ToolCallDelta | ToolCall | Done | Notice
