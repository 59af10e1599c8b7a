"""Time budgets for browser calls: one deadline for the whole call, and the user's Stop.

Socket timeouts restart with every byte, so a page that drips one byte at a time would never time out;
every network step therefore asks the budget how long it may still wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.25


class Cancelled(Exception):
    """The user pressed Stop while the browser was waiting."""


@dataclass(frozen=True)
class Budget:
    """`deadline` is a `time.monotonic()` value (None: no deadline); `cancel` is the conversation's Stop."""

    deadline: float | None = None
    cancel: threading.Event | None = None

    @classmethod
    def starting_now(cls, seconds: float, cancel: threading.Event | None = None) -> Budget:
        return cls(time.monotonic() + seconds, cancel)

    def end(self, timeout: float | None) -> float | None:
        """When a step allowed `timeout` seconds on its own must end: the earlier of that and the deadline."""
        own = None if timeout is None else time.monotonic() + timeout
        ends = [t for t in (self.deadline, own) if t is not None]
        return min(ends, default=None)

    def wait_for(self, end: float | None, timeout_error: type[Exception], poll: bool = False) -> float | None:
        """Seconds one blocking call may wait before `end`; raise when Stop was pressed or no time is left.

        With `poll`, waits are cut into short slices so a blocked read notices Stop quickly.
        """
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")
        left = None if end is None else end - time.monotonic()
        if left is not None and left <= 0:
            raise timeout_error("the time limit passed")
        if not poll or self.cancel is None:
            return left
        return POLL_S if left is None else min(left, POLL_S)


def call_abandonable(function: Callable[[], T], timeout: float | None, cancel: threading.Event | None) -> T:
    """Run a blocking call that has no timeout (or no Stop) of its own, waiting at most `timeout` seconds.

    The call runs in a daemon thread; when the wait gives up (`TimeoutError`, `Cancelled`) that thread
    finishes by itself later without holding anything the caller needs, and never blocks interpreter exit.
    """
    outcome: Future[T] = Future()

    def run() -> None:
        try:
            outcome.set_result(function())
        except BaseException as exc:
            outcome.set_exception(exc)

    threading.Thread(target=run, name="browser-wait", daemon=True).start()
    budget = Budget.starting_now(timeout, cancel) if timeout is not None else Budget(cancel=cancel)
    while True:
        wait = budget.wait_for(budget.deadline, TimeoutError, poll=True)
        try:
            return outcome.result(wait)
        except TimeoutError:
            if outcome.done():
                raise
