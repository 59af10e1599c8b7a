"""One image generation at a time per process: the others wait in line, knowing how many are ahead.

A single generation already uses every core (or the GPU); two at once would each take twice as long
and hold two sets of activations. Leaving the line (Stop) lets the next one move up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_S = 0.2


class GenerationLine:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._line: list[object] = []

    @property
    def length(self) -> int:
        """Generations running or waiting."""
        with self._changed:
            return len(self._line)

    @contextmanager
    def turn(self, cancel: threading.Event, on_wait: Callable[[int], None]) -> Iterator[bool]:
        """Yields True once this caller's turn has come, or False when `cancel` was set first.

        `on_wait(ahead)` is called while waiting, with how many generations are before this one.
        """
        me = object()
        with self._changed:
            self._line.append(me)
            while (ahead := self._line.index(me)) > 0 and not cancel.is_set():
                on_wait(ahead)
                self._changed.wait(POLL_S)
            admitted = ahead == 0
            if not admitted:
                self._leave(me)
        try:
            yield admitted
        finally:
            if admitted:
                with self._changed:
                    self._leave(me)

    def _leave(self, me: object) -> None:
        self._line.remove(me)
        self._changed.notify_all()


LINE = GenerationLine()
