"""Step timings for one answer: time to first token, decoding speed and each tool call's duration.

The result of `StepTimer.to_dict()` goes in the answer's `Message.info["timings"]`, so it is stored and
exported with the turn (`format_timings` also reads the flat `ttft_s`/`tokens_per_s`/`seconds` keys
the agent loop puts straight in `Message.info`):
`{"ttft_s": 0.42, "tokens": 120, "tokens_per_s": 31.5, "total_s": 5.1,
  "tools": [{"name": "python", "seconds": 1.2}]}`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class _Step:
    started: float
    first: float | None = None
    last: float | None = None
    first_count: int = 0
    tokens: int = 0


class StepTimer:
    """Times one turn, from the user's request to the final answer.

    Call `model_step()` before each model call after the first (the first starts with the timer),
    `token()` for each streamed text delta (or `token(n)` with a real token count), and run each tool
    inside `with timer.tool(name):`. Speed counts only the time between a step's first and last
    token, so waiting for the first token and running tools don't lower it.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.started = clock()
        self._steps = [_Step(self.started)]
        self._tools: list[dict[str, Any]] = []

    def model_step(self) -> None:
        self._steps.append(_Step(self._clock()))

    def token(self, count: int = 1) -> None:
        now = self._clock()
        step = self._steps[-1]
        if step.first is None:
            step.first, step.first_count = now, count
        step.last = now
        step.tokens += count

    @contextmanager
    def tool(self, name: str) -> Iterator[None]:
        started = self._clock()
        try:
            yield
        finally:
            self._tools.append({"name": name, "seconds": round(self._clock() - started, 3)})

    def to_dict(self) -> dict[str, Any]:
        first = next((s.first for s in self._steps if s.first is not None), None)
        decoded = sum(s.tokens - s.first_count for s in self._steps if s.first is not None)
        spans = sum(s.last - s.first for s in self._steps if s.first is not None and s.last is not None)
        return {
            "ttft_s": None if first is None else round(first - self.started, 3),
            "tokens": sum(s.tokens for s in self._steps),
            "tokens_per_s": round(decoded / spans, 1) if spans > 0 else None,
            "total_s": round(self._clock() - self.started, 3),
            "tools": list(self._tools),
        }


def format_timings(timings: dict[str, Any]) -> str:
    """One line for people: `first token 0.42 s · 31.5 tokens/s · python 1.20 s · total 5.1 s`."""
    parts = []
    if timings.get("ttft_s") is not None:
        parts.append(f"first token {timings['ttft_s']:.2f} s")
    if timings.get("tokens_per_s") is not None:
        parts.append(f"{timings['tokens_per_s']:.1f} tokens/s")
    parts.extend(f"{tool['name']} {tool['seconds']:.2f} s" for tool in timings.get("tools", []))
    if timings.get("seconds") is not None:
        parts.append(f"took {timings['seconds']:.2f} s")
    if timings.get("total_s") is not None:
        parts.append(f"total {timings['total_s']:.1f} s")
    return " · ".join(parts)
