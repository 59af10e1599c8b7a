"""Step timings for one answer: time to first token, decoding speed and each tool call's duration.

The result of `StepTimer.to_dict()` goes in the answer's `Message.info["timings"]`, so it is stored and
exported with the turn (`format_timings` also reads the flat `seconds` key the agent loop puts in an
observation's `Message.info`):
`{"ttft_s": 0.42, "tokens": 120, "tokens_per_s": 31.5, "counted_by": "server", "total_s": 5.1,
  "tools": [{"name": "python", "seconds": 1.2}]}`.

A stream chunk may hold several tokens, so `counted_by` says where the token figures come from:
`server` (the usage the model reported), `tokenizer` (the model's tokenizer on the generated text:
in-process, the server's `/tokenize`, or a local copy), `estimate` (the app's estimate, where no
tokenizer is at hand) or `chunks` (none was available: the figures count stream chunks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("server", "tokenizer", "estimate", "chunks")


@dataclass
class _Step:
    started: float
    first: float | None = None
    last: float | None = None
    first_count: int = 0
    chunks: int = 0
    text: list[str] = field(default_factory=list)
    reported: int | None = None


class StepTimer:
    """Times one turn, from the user's request to the final answer.

    Call `model_step()` before each model call after the first (the first starts with the timer),
    `token()` for each streamed chunk (`token(n)` for n chunks at once, with their text when at hand),
    `finish_step(usage)` when a step's stream ends, and run each tool inside `with timer.tool(name):`
    (or report it with `record_tool`). Speed counts only the time between a step's first and last
    chunk, so waiting for the first token and running tools don't lower it.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        count_tokens: Callable[[str], int] | None = None,
        counted_by: str = "tokenizer",
    ) -> None:
        self._clock = clock
        self._count_tokens = count_tokens
        self._counted_by = counted_by
        self.started = clock()
        self._steps = [_Step(self.started)]
        self._tools: list[dict[str, Any]] = []

    def model_step(self) -> None:
        self._steps.append(_Step(self._clock()))

    def token(self, count: int = 1, text: str = "") -> None:
        now = self._clock()
        step = self._steps[-1]
        if step.first is None:
            step.first, step.first_count = now, count
        step.last = now
        step.chunks += count
        if text:
            step.text.append(text)

    def finish_step(self, usage: Mapping[str, Any] | None = None, text: str | None = None) -> None:
        """The step's real size: the server's `completion_tokens` when it reported them, otherwise
        the backend's counter on `text` (by default the text given to `token`)."""
        step = self._steps[-1]
        reported = (usage or {}).get("completion_tokens")
        if isinstance(reported, int) and reported >= 0:
            step.reported = reported
        if text is not None:
            step.text = [text]

    def record_tool(self, name: str, seconds: float) -> None:
        self._tools.append({"name": name, "seconds": round(seconds, 3)})

    @contextmanager
    def tool(self, name: str) -> Iterator[None]:
        started = self._clock()
        try:
            yield
        finally:
            self.record_tool(name, self._clock() - started)

    def _size(self, step: _Step) -> tuple[int, str]:
        if step.reported is not None:
            return step.reported, "server"
        if self._count_tokens is not None and step.text:
            return self._count_tokens("".join(step.text)), self._counted_by
        return step.chunks, "chunks"

    def to_dict(self) -> dict[str, Any]:
        """The figures so far (callable mid-turn: a stopped answer keeps what was measured)."""
        steps = [s for s in self._steps if s.first is not None and s.chunks > 0]
        tokens, decoded, spans, sources = 0, 0.0, 0.0, set()
        for step in steps:
            size, source = self._size(step)
            sources.add(source)
            tokens += size
            decoded += size * (step.chunks - step.first_count) / step.chunks
            spans += (step.last or step.first) - step.first
        return {
            "ttft_s": round(steps[0].first - self.started, 3) if steps else None,
            "tokens": tokens,
            "tokens_per_s": round(decoded / spans, 1) if spans > 0 else None,
            "counted_by": next((s for s in reversed(SOURCES) if s in sources), None),
            "total_s": round(self._clock() - self.started, 3),
            "tools": list(self._tools),
        }


ENGLISH_WORDS = {
    "first_token": "first token",
    "took": "took",
    "total": "total",
    "server": "tokens/s",
    "tokenizer": "tokens/s (app's count)",
    "estimate": "tokens/s (estimated)",
    "chunks": "chunks/s",
}


def format_timings(timings: dict[str, Any], words: dict[str, str] | None = None) -> str:
    """One line for people: `first token 0.42 s · 31.5 tokens/s · python 1.20 s · total 5.1 s`.

    Speed is in tokens/s when the server reported its token count, says so when the app counted them
    (the backend's tokenizer, or its estimate), and is in stream chunks/s when neither was possible.
    `words` gives the line's words in another language (the UI's catalogue), keyed as `ENGLISH_WORDS`.
    """
    say = words or ENGLISH_WORDS
    parts = []
    if timings.get("ttft_s") is not None:
        parts.append(f"{say['first_token']} {timings['ttft_s']:.2f} s")
    if timings.get("tokens_per_s") is not None:
        unit = say.get(timings.get("counted_by") or "", say["server"])
        parts.append(f"{timings['tokens_per_s']:.1f} {unit}")
    parts.extend(f"{tool['name']} {tool['seconds']:.2f} s" for tool in timings.get("tools", []))
    if timings.get("seconds") is not None:
        parts.append(f"{say['took']} {timings['seconds']:.2f} s")
    if (total := timings.get("total_s")) is not None:
        # Under a second, as finely as the first token's time (never "first token 0.12 s · total 0.1 s").
        parts.append(f"{say['total']} {total:.2f} s" if total < 1 else f"{say['total']} {total:.1f} s")
    return " · ".join(parts)
