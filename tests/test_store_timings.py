"""StepTimer on a scripted clock: the figures stored with each answer."""

from __future__ import annotations

import pytest

from app.timings import StepTimer, format_timings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_turn_with_a_tool_call():
    clock = Clock()
    timer = StepTimer(clock)
    clock.now = 100.5
    timer.token()  # first token of the tool call, 0.5 s after the request
    for _ in range(10):
        clock.now += 0.1
        timer.token()
    clock.now += 0.2
    with timer.tool("python"):
        clock.now += 2.0
    timer.model_step()
    clock.now += 0.3
    timer.token(4)
    for _ in range(10):
        clock.now += 0.05
        timer.token(2)

    timings = timer.to_dict()
    assert timings["ttft_s"] == 0.5
    assert timings["tokens"] == 1 + 10 + 4 + 20
    assert timings["tokens_per_s"] == round((10 + 20) / (1.0 + 0.5), 1)
    assert timings["total_s"] == pytest.approx(4.5, abs=1e-6)
    assert timings["tools"] == [{"name": "python", "seconds": 2.0}]
    assert format_timings(timings) == "first token 0.50 s · 20.0 tokens/s · python 2.00 s · total 4.5 s"


def test_a_failing_tool_is_still_timed_and_no_tokens_means_no_speed():
    clock = Clock()
    timer = StepTimer(clock)
    with pytest.raises(RuntimeError), timer.tool("simple_browser"):
        clock.now += 1.5
        raise RuntimeError("offline")
    timings = timer.to_dict()
    assert timings["ttft_s"] is None and timings["tokens_per_s"] is None and timings["tokens"] == 0
    assert timings["tools"] == [{"name": "simple_browser", "seconds": 1.5}]
    assert format_timings(timings) == "simple_browser 1.50 s · total 1.5 s"
