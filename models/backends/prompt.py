"""Backends that send GLM prompt text and parse the raw output themselves (in-process, /v1/completions)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from models.backends.base import ToolDeclaration
from models.events import ModelEvent
from models.messages import GenerationParams, Message
from models.protocols import GLM4, ChatProtocol
from models.protocols.base import TextStream


class TextSource(Protocol):
    def stream_text(self, prompt: str, params: GenerationParams, cancel: threading.Event) -> TextStream: ...


Renderer = Callable[[Sequence[Message], Sequence[ToolDeclaration], bool], str]


@dataclass
class PromptBackend:
    """A ChatBackend over any TextSource: render the prompt in the model's protocol, stream it, parse
    the output. `render` replaces the protocol's renderer (a checkpoint's own chat template)."""

    source: TextSource
    context_window: int
    count_tokens: Callable[[str], int]
    protocol: ChatProtocol = GLM4
    render: Renderer | None = None
    token_source: str = "tokenizer"
    """What `count_tokens` is: "tokenizer" (the model's own, local or the server's) or "estimate"."""

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDeclaration],
        params: GenerationParams,
        cancel: threading.Event,
    ) -> Iterator[ModelEvent]:
        render = self.render or self.protocol.render
        prompt = render(messages, tools, params.thinking)
        return self.protocol.parse(self.source.stream_text(prompt, params, cancel), tools, prompt)
