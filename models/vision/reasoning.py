"""Split a thinking model's output (`<think>…</think><answer>…</answer>`) into reasoning and answer.

GLM-4.1V-Thinking and later write their reasoning inside `<think>` and the reply inside `<answer>`.
The splitter works on streamed chunks in any split, holding back only a possible partial tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from models.events import Done, ReasoningDelta, TextDelta

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_TAGS = ("<answer>", "</answer>")
TAGS = (THINK_OPEN, THINK_CLOSE, *ANSWER_TAGS)

ThinkingEvent = TextDelta | ReasoningDelta | Done


class ReasoningSplitter:
    def __init__(self) -> None:
        self._held = ""
        self._thinking = False

    def feed(self, chunk: str) -> list[TextDelta | ReasoningDelta]:
        text, self._held = self._held + chunk, ""
        events: list[TextDelta | ReasoningDelta] = []
        while text:
            start = text.find("<")
            if start < 0:
                self._emit(events, text)
                break
            self._emit(events, text[:start])
            text = text[start:]
            tag = next((t for t in TAGS if text.startswith(t)), None)
            if tag is not None:
                self._thinking = {THINK_OPEN: True, THINK_CLOSE: False}.get(tag, self._thinking)
                text = text[len(tag) :]
            elif any(t.startswith(text) for t in TAGS):
                self._held = text
                break
            else:
                self._emit(events, "<")
                text = text[1:]
        return events

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        events: list[TextDelta | ReasoningDelta] = []
        self._emit(events, self._held)
        self._held = ""
        return events

    def _emit(self, events: list[TextDelta | ReasoningDelta], text: str) -> None:
        if text:
            events.append(ReasoningDelta(text) if self._thinking else TextDelta(text))


def split_reasoning(events: Iterable[ThinkingEvent]) -> Iterator[ThinkingEvent]:
    """The same stream with `<think>` text as `ReasoningDelta` and the tags removed."""
    splitter = ReasoningSplitter()
    for event in events:
        if isinstance(event, TextDelta):
            yield from splitter.feed(event.text)
        else:
            if isinstance(event, Done):
                yield from splitter.flush()
            yield event
