"""One model load at a time in this process.

transformers imports its classes lazily, and two threads importing them for the first time at once
can see a half-initialised module (`ImportError: cannot import name 'AutoConfig' from 'transformers'`):
the Vision page opened while the text model loads did exactly that. Loads are also the heaviest thing
the app does, so running them one after the other costs little and keeps memory peaks apart.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.RLock()


def one_at_a_time(load: Callable[P, T]) -> Callable[P, T]:
    """Run `load` while no other decorated load runs in this process."""

    @functools.wraps(load)
    def serialized(*args: P.args, **kwargs: P.kwargs) -> T:
        with _lock:
            return load(*args, **kwargs)

    return serialized
