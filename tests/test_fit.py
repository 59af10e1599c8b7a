"""Fitting a conversation into the prompt budget: whole turns first, then the longest observations."""

from models.fit import FIT_NOTE, fit_history
from models.messages import Message
from models.protocols.glm4 import render_message

SYSTEM = Message("system", "Be brief.")


def count(text: str) -> int:
    """One token per character: easy to reason about, and the fitting only needs a monotone counter."""
    return len(text)


def old_turn(k: int) -> list[Message]:
    return [
        Message("user", f"question {k}"),
        Message("assistant", '{"q": 1}', metadata="search", tool_call_id=f"c{k}"),
        Message("observation", f"result {k} " * 20, tool_call_id=f"c{k}"),
        Message("assistant", f"answer {k}"),
    ]


def size(messages: list[Message]) -> int:
    return sum(count(render_message(m)) for m in messages)


def test_a_conversation_that_fits_is_sent_whole() -> None:
    messages = [SYSTEM, *old_turn(0), Message("user", "now")]
    fitted = fit_history(messages, size(messages) + 10, count, overhead=10)
    assert fitted.messages == messages and not fitted.trimmed


def test_oldest_whole_turns_go_first_and_system_and_current_turn_stay() -> None:
    current = [Message("user", "now"), Message("assistant", "{}", metadata="search", tool_call_id="n")]
    messages = [SYSTEM, *old_turn(0), *old_turn(1), *old_turn(2), *current]
    budget = size([SYSTEM, *old_turn(2), *current]) + 5
    fitted = fit_history(messages, budget, count)
    assert fitted.messages == [SYSTEM, *old_turn(2), *current]
    assert (fitted.dropped_turns, fitted.shortened_observations) == (2, 0)
    assert fitted.tokens <= budget


def test_then_the_longest_observation_is_cut_keeping_head_and_tail() -> None:
    big = "".join(f"row {i}\n" for i in range(1000))
    small = "x" * 300
    messages = [
        SYSTEM,
        *old_turn(0),
        Message("user", "now"),
        Message("assistant", "{}", metadata="read", tool_call_id="a"),
        Message("observation", small, tool_call_id="a"),
        Message("assistant", "{}", metadata="read", tool_call_id="b"),
        Message("observation", big, tool_call_id="b"),
    ]
    budget = 2000
    fitted = fit_history(messages, budget, count)
    assert fitted.tokens <= budget
    assert (fitted.dropped_turns, fitted.shortened_observations) == (1, 1)
    assert fitted.messages[0] == SYSTEM and fitted.messages[1].content == "now"
    assert fitted.messages[3].content == small, "the longest goes first; this one needn't be cut"
    cut = fitted.messages[5].content
    assert cut.startswith("row 0\nrow 1\n") and cut.endswith("row 998\nrow 999\n")
    assert FIT_NOTE in cut
    assert messages[-1].content == big, "the caller's messages are left alone"


def test_a_turn_that_cannot_fit_says_so_through_its_token_count() -> None:
    messages = [SYSTEM, Message("user", "q" * 5000)]
    fitted = fit_history(messages, 1000, count)
    assert fitted.tokens > 1000
    assert [m.content for m in fitted.messages] == [m.content for m in messages]


def test_reasoning_counts_in_the_current_turn_only() -> None:
    thought = "think " * 50
    earlier = [Message("user", "Hi"), Message("assistant", "Hello", reasoning=thought)]
    current = [Message("user", "Again"), Message("assistant", "", reasoning=thought)]
    with_step = fit_history([*earlier, *current], 10_000, count).tokens
    assert with_step == fit_history([*earlier, current[0]], 10_000, count).tokens + len(thought)
