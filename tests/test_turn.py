"""A turn is saved once, whichever script run closes it, and late writes from the other are dropped."""

import threading

from app.turn import STOPPED_TOOL, TurnBuffer
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
