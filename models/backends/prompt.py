"""Backends that send GLM-4 prompt text and parse the raw output themselves."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from models.backends.base import ToolDeclaration
from models.events import Done, ModelEvent, ToolCall
from models.messages import GenerationParams, Message
from models.protocols.glm4 import OutputParser, render_prompt

TextStream = Generator[str, None, str]
"""Text chunks; the generator's return value is the finish reason ("stop", "length", "cancelled")."""


class TextSource(Protocol):
    def stream_text(self, prompt: str, params: GenerationParams, cancel: threading.Event) -> TextStream: ...


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_stream(chunks: TextStream) -> Iterator[ModelEvent]:
    """Raw model text in, protocol events out."""
    parser = OutputParser()
    feed = parser.feed
    ending: list[str] = []
    for chunk in _keep_return(chunks, ending):
        event = feed(chunk)
        if event is not None:
            yield event
    finish = ending[0] if ending and ending[0] else "stop"
    events, output = parser.finish()
    yield from events
    if output.is_tool_call:
        yield ToolCall(output.tool, output.text, new_call_id())
        if finish == "stop":
            finish = "tool_call"
    yield Done(finish)


def _keep_return(chunks: TextStream, ending: list[str]) -> Iterator[str]:
    """Yield the chunks; put the generator's return value (the finish reason) in `ending`."""
    ending.append((yield from chunks))


Renderer = Callable[[Sequence[Message], Sequence[dict[str, Any]]], str]


@dataclass
class PromptBackend:
    """A ChatBackend over any TextSource: render the prompt, stream it, parse the output."""

    source: TextSource
    context_window: int
    count_tokens: Callable[[str], int]
    render: Renderer = render_prompt

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDeclaration],
        params: GenerationParams,
        cancel: threading.Event,
    ) -> Iterator[ModelEvent]:
        prompt = self.render(messages, [t.template_entry for t in tools])
        return parse_stream(self.source.stream_text(prompt, params, cancel))
