"""The live view of a call being written: a bounded tail, refreshed at most every interval."""

from app.ui.live_text import ELLIPSIS, CallPreview, OutputPreview


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refreshes_are_throttled_and_the_latest_text_is_shown() -> None:
    clock = Clock()
    live = CallPreview(tail_chars=100, interval_s=0.1, clock=clock)
    assert live.add("print(") == "print(", "the first piece shows at once"
    assert live.add("1") is None and live.add(")") is None, "then not before the interval"
    clock.now = 0.1
    assert live.add("\n") == "print(1)\n"


def test_a_long_call_keeps_only_its_tail_and_says_so() -> None:
    live = CallPreview(tail_chars=10, interval_s=0.0, clock=Clock())
    for piece in ["abcd", "efgh", "ijkl", "mnop"]:
        shown = live.add(piece)
    assert shown == ELLIPSIS + "efghijklmnop"
    assert len(shown) - len(ELLIPSIS) < 10 + 4, "at most the tail plus one piece"
    short = CallPreview(tail_chars=100, interval_s=0.0, clock=Clock())
    assert short.add("abc") == "abc", "no ellipsis when nothing was cut"


def test_live_output_refreshes_are_throttled_and_the_last_is_never_lost() -> None:
    clock = Clock()
    live = OutputPreview(interval_s=0.2, clock=clock)
    assert live.add("1\n") == "1\n", "the first output shows at once"
    assert live.add("1\n2\n") is None and live.add("1\n2\n3\n") is None, "then not before the interval"
    clock.now = 0.1
    assert live.pending() is None
    clock.now = 0.2
    assert live.pending() == "1\n2\n3\n", "the latest text, at the next heartbeat"
    clock.now = 1.0
    assert live.pending() is None, "nothing new: nothing to render"
