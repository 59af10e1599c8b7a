"""The live view of a tool call while the model writes it, at a cost per token that doesn't grow.

Re-joining and re-rendering the whole call on every token made each token cost more the longer the
call (6.5, 34 and 148 µs a token for calls of 2k, 8k and 32k tokens). `CallPreview` keeps only the
call's last `TAIL_CHARS` characters and hands them out for rendering at most every `INTERVAL_S`
seconds, so both the joining and the rendering are bounded however long the call gets. The whole call
is shown once it is complete (`ToolStarted`). `OutputPreview` does the same for a running tool's
output, which the loop sends whole and bounded (head and tail) at each heartbeat that has news.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

TAIL_CHARS = 4000
INTERVAL_S = 0.1
OUTPUT_INTERVAL_S = 0.2
ELLIPSIS = "…\n"


class CallPreview:
    def __init__(
        self,
        tail_chars: int = TAIL_CHARS,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tail: deque[str] = deque()
        self._size = 0
        self._cut = False
        self._tail_chars, self._interval, self._clock = tail_chars, interval_s, clock
        self._shown_at: float | None = None

    def add(self, text: str) -> str | None:
        """Take the next piece of the call; returns the text to show when a refresh is due, else None."""
        self._tail.append(text)
        self._size += len(text)
        while len(self._tail) > 1 and self._size - len(self._tail[0]) >= self._tail_chars:
            self._size -= len(self._tail.popleft())
            self._cut = True
        now = self._clock()
        if self._shown_at is not None and now - self._shown_at < self._interval:
            return None
        self._shown_at = now
        return self.text()

    def text(self) -> str:
        """What to show now: the tail of the call, marked when its beginning is cut off."""
        tail = "".join(self._tail)
        return ELLIPSIS + tail if self._cut else tail


class OutputPreview:
    """The live output of a running tool (`ToolOutput`: the whole bounded text so far each time),
    handed out for rendering at most every `interval_s` seconds; `pending` gives what a refresh
    skipped, for the next heartbeat, so the last output is never left unshown."""

    def __init__(
        self, interval_s: float = OUTPUT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval, self._clock = interval_s, clock
        self._shown_at: float | None = None
        self._waiting: str | None = None

    def add(self, text: str) -> str | None:
        """The latest output; returns it when a refresh is due, else None (kept for `pending`)."""
        self._waiting = text
        return self.pending()

    def pending(self) -> str | None:
        """The output not shown yet, when a refresh is due."""
        now = self._clock()
        if self._waiting is None or (self._shown_at is not None and now - self._shown_at < self._interval):
            return None
        self._shown_at, text, self._waiting = now, self._waiting, None
        return text
