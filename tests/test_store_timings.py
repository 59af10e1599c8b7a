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
    assert timings["counted_by"] == "chunks"
    assert format_timings(timings) == "first token 0.50 s · 20.0 chunks/s · python 2.00 s · total 4.5 s"


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


def streamed(timer: StepTimer, clock: Clock, pieces: list[str]) -> None:
    for piece in pieces:
        clock.now += 0.1
        timer.token(1, piece)


def test_the_servers_token_count_wins_over_chunks():
    clock = Clock()
    timer = StepTimer(clock, count_tokens=lambda text: len(text.split()))
    streamed(timer, clock, ["one two ", "three four ", "five six "] * 3 + ["seven"])
    timer.finish_step({"prompt_tokens": 50, "completion_tokens": 40})
    timings = timer.to_dict()
    assert timings["counted_by"] == "server"
    assert timings["tokens"] == 40
    assert timings["tokens_per_s"] == round(40 * 9 / 10 / 0.9, 1), "the first chunk's share is not speed"
    assert "40.0 tokens/s ·" in format_timings(timings)


def test_without_usage_the_tokenizer_counts_and_says_so():
    clock = Clock()
    timer = StepTimer(clock, count_tokens=lambda text: len(text.split()))
    streamed(timer, clock, ["one two ", "three four ", "five six "])
    timer.finish_step({})
    timings = timer.to_dict()
    assert (timings["counted_by"], timings["tokens"]) == ("tokenizer", 6)
    assert "tokens/s (app's count)" in format_timings(timings)


def test_a_stopped_step_is_measured_from_what_streamed():
    clock = Clock()
    timer = StepTimer(clock, count_tokens=lambda text: len(text.split()))
    streamed(timer, clock, ["a b ", "c d ", "e f "])
    timings = timer.to_dict()
    assert timings["tokens"] == 6 and timings["ttft_s"] == 0.1 and timings["tokens_per_s"] == 20.0


def test_timings_stored_before_counted_by_still_read_as_tokens():
    assert format_timings({"ttft_s": 0.2, "tokens_per_s": 12.0}) == "first token 0.20 s · 12.0 tokens/s"


def test_a_short_turns_total_is_never_shown_below_its_first_token() -> None:
    timings = {"ttft_s": 0.12, "total_s": 0.134, "tools": []}
    assert format_timings(timings) == "first token 0.12 s · total 0.13 s"
