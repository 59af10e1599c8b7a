"""The interface every text backend offers the agent loop and the pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from models.events import ModelEvent
from models.messages import GenerationParams, Message


class ToolDeclaration(Protocol):
    """What a backend needs to know of a tool (`app.tools.base.Tool` satisfies it)."""

    name: str

    @property
    def template_entry(self) -> dict[str, Any]: ...

    @property
    def function_schema(self) -> dict[str, Any]: ...

    def text_from_arguments(self, arguments: dict[str, Any]) -> str: ...

    def arguments_from_text(self, text: str) -> dict[str, Any]: ...


class ChatBackend(Protocol):
    """Streams one assistant step for a conversation.

    Yields `TextDelta`s for an answer, or `ToolCallDelta`s then one `ToolCall`, and always ends with
    `Done`. Setting `cancel` ends the stream early with `Done("cancelled")`.
    """

    context_window: int

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDeclaration],
        params: GenerationParams,
        cancel: threading.Event,
    ) -> Iterator[ModelEvent]: ...

    def count_tokens(self, text: str) -> int: ...
