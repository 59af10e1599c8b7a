"""Incremental parser for what GLM-4 writes after `<|assistant|>`.

The first line is metadata: empty for an answer, a tool name for a tool call (the call follows on
the next lines). The parser is fed chunks in any split and does O(1) work per character: it keeps
only the undecided first line and a short tail that might be the start of a stop string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.events import TextDelta, ToolCallDelta
from models.protocol import STOP_STRINGS

MAX_TOOL_NAME = 64
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.\r")
_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)\n?```\s*$", re.S)
_HOLD = max(len(s) for s in STOP_STRINGS) - 1


@dataclass(frozen=True)
class ParsedOutput:
    """The whole output, decided: an answer (`tool` empty) or a call to `tool` with `text`."""

    tool: str
    text: str
    stopped_at_token: bool

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool)


def strip_code_fence(code: str) -> str:
    """`python` calls come raw or inside a ```python fence; return the bare code."""
    match = _FENCE.match(code)
    return match.group(1) if match else code.strip("\n")


class StopScanner:
    """Passes text through until a stop string appears, holding back a tail that may begin one."""

    def __init__(self) -> None:
        self._tail = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        if self.stopped:
            return ""
        if not self._tail and "<" not in chunk:
            return chunk
        text = self._tail + chunk if self._tail else chunk
        if "<|" in text:
            cut = min((i for i in (text.find(s) for s in STOP_STRINGS) if i >= 0), default=-1)
            if cut >= 0:
                self.stopped = True
                self._tail = ""
                return text[:cut]
        keep = _partial_stop_length(text)
        self._tail = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep] if keep else text

    def flush(self) -> str:
        out, self._tail = self._tail, ""
        return out


def _partial_stop_length(text: str) -> int:
    """Length of the suffix of `text` that is a proper prefix of a stop string.

    Every stop string starts with its only `<`, so only the suffix from the last `<` can qualify.
    """
    start = text.rfind("<", max(0, len(text) - _HOLD))
    if start < 0:
        return 0
    suffix = text[start:]
    return len(suffix) if any(s.startswith(suffix) for s in STOP_STRINGS) else 0


class OutputParser:
    """Feed chunks with `feed`, get events as soon as they are certain; call `finish` at the end."""

    def __init__(self) -> None:
        self._stops = StopScanner()
        self._head: list[str] = []
        self._head_len = 0
        self._decided = False
        self._tool = ""
        self._body: list[str] = []

    def feed(self, chunk: str) -> TextDelta | ToolCallDelta | None:
        """The event this chunk makes certain, if any (a chunk never makes more than one)."""
        stops = self._stops
        if self._decided and not stops._tail and not stops.stopped and "<" not in chunk:
            self._body.append(chunk)
            return ToolCallDelta(self._tool, chunk) if self._tool else TextDelta(chunk)
        return self._consume(stops.feed(chunk))

    def finish(self) -> tuple[list[TextDelta | ToolCallDelta], ParsedOutput]:
        """Flush what is held back and return the final events and the decided output."""
        last = self._consume(self._stops.flush())
        events = [last] if last is not None else []
        if not self._decided:
            head = "".join(self._head)
            events.extend(self._decide_unterminated(head))
        body = "".join(self._body)
        text = normalize_call(self._tool, body) if self._tool else body
        return events, ParsedOutput(self._tool, text, self._stops.stopped)

    def _consume(self, text: str) -> TextDelta | ToolCallDelta | None:
        if text and not self._decided:
            text = self._read_head(text)
        if not text:
            return None
        self._body.append(text)
        return ToolCallDelta(self._tool, text) if self._tool else TextDelta(text)

    def _read_head(self, text: str) -> str:
        """Grow the first line; decide as soon as it ends or can no longer be a tool name.

        Returns the text that follows the decision ("" while undecided).
        """
        for i, char in enumerate(text):
            if char == "\n":
                self._decided = True
                self._tool = ("".join(self._head) + text[:i]).strip()
                self._head.clear()
                return text[i + 1 :]
            if char not in _NAME_CHARS or self._head_len + i >= MAX_TOOL_NAME:
                self._decided = True
                return "".join(self._head) + text
        self._head.append(text)
        self._head_len += len(text)
        return ""

    def _decide_unterminated(self, head: str) -> list[TextDelta | ToolCallDelta]:
        """Output that ended inside its first line: a bare word is an answer, not a call."""
        self._decided = True
        if not head:
            return []
        self._body.append(head)
        return [TextDelta(head)]


def normalize_call(tool: str, text: str) -> str:
    """A call's text as tools receive it, however the model or server delivered it."""
    return strip_code_fence(text) if tool == "python" else text.strip()
