"""A turn is saved once, whichever script run closes it, and late writes from the other are dropped."""

import threading

from app.timings import StepTimer
from app.turn import STOPPED_TOOL, TurnBuffer, produced_nothing
from models.messages import Message


def test_the_first_close_wins_and_later_writes_are_dropped() -> None:
    turn = TurnBuffer([Message("user", "go")])
    turn.stream("partial ")
    turn.stream("answer")
    closed = turn.close()
    assert [(m.role, m.content, m.info.get("stopped")) for m in closed] == [
        ("user", "go", None),
        ("assistant", "partial answer", True),
    ]
    turn.add(Message("observation", "late"))
    turn.add_streamed_answer({})
    assert turn.close() == []
    assert len(turn.messages) == 2


def test_a_call_cut_short_gets_its_observation() -> None:
    turn = TurnBuffer([Message("user", "run"), Message("assistant", "while True: pass", "python", "call_1")])
    *_, observation = turn.close()
    assert (observation.role, observation.content, observation.tool_call_id) == (
        "observation",
        STOPPED_TOOL,
        "call_1",
    )


def race(turn: TurnBuffer) -> list[list[Message]]:
    """Two runs close the turn while the old thread adds its late observation."""
    results: list[list[Message]] = []
    threads = [threading.Thread(target=lambda: results.append(turn.close())) for _ in range(2)]
    threads.append(threading.Thread(target=turn.add, args=(Message("observation", "late"),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_closers_save_the_turn_exactly_once() -> None:
    for _ in range(200):
        turn = TurnBuffer([Message("user", "q")])
        turn.stream("x")
        first, second = sorted(race(turn), key=len)
        assert first == []
        assert second == turn.messages, "what was saved is all the turn holds: nothing added after"


def test_a_stopped_answer_keeps_its_timings() -> None:
    turn = TurnBuffer([Message("user", "go")], StepTimer(count_tokens=lambda text: len(text.split())))
    for piece in ["one two ", "three ", "four"]:
        turn.stream(piece)
    *_, stopped = turn.close()
    assert stopped.info["stopped"] is True
    assert stopped.info["timings"]["tokens"] == 4 and stopped.info["timings"]["counted_by"] == "tokenizer"


def test_an_error_is_kept_after_what_streamed_and_notes_go_on_the_answer() -> None:
    turn = TurnBuffer([Message("user", "go")])
    turn.note(trimmed={"dropped_turns": 2, "shortened_observations": 0})
    turn.stream("half an ans")
    turn.fail("The model failed: connection reset")
    user, answer = turn.close()
    assert answer.content == "half an ans"
    assert answer.info["error"] == "The model failed: connection reset"
    assert answer.info["trimmed"] == {"dropped_turns": 2, "shortened_observations": 0}
    assert not produced_nothing([user, answer])


def test_what_counts_as_producing_nothing() -> None:
    question = Message("user", "q")
    error = Message("assistant", "", info={"error": "boom"})
    call = Message("assistant", "print(1)", "python", "call_1")
    assert produced_nothing([question])
    assert produced_nothing([question, error])
    assert not produced_nothing([question, call, Message("observation", "1", tool_call_id="call_1"), error])
