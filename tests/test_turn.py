"""A turn is saved once, whichever script run closes it, and late writes from the other are dropped."""

import threading

from app.timings import StepTimer
from app.tools.base import STOPPED_TOOL
from app.turn import TurnBuffer, produced_nothing
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


def test_a_call_cut_short_gets_its_observation_and_the_turn_says_stopped_once() -> None:
    turn = TurnBuffer([Message("user", "run"), Message("assistant", "while True: pass", "python", "call_1")])
    *_, observation, note = turn.close()
    assert (observation.role, observation.content, observation.tool_call_id) == (
        "observation",
        STOPPED_TOOL,
        "call_1",
    )
    assert observation.info == {"stopped": True, "output": "", "seconds": 0.0}
    assert (note.role, note.content, note.info["stopped"]) == ("assistant", "", True)


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


def test_a_stopped_call_keeps_what_it_printed_for_the_step_and_the_model() -> None:
    call = Message("assistant", "for i in range(9): print(i)", "python", "call_1")
    turn = TurnBuffer([Message("user", "count"), call])
    turn.tool_running(call, seconds=0.5, output="0\n")
    turn.tool_running(call, seconds=1.25)
    turn.tool_running(call, output="0\n1\n2\n")
    user, _, observation, note = turn.close()
    assert observation.content == f"{STOPPED_TOOL} Its output until then:\n0\n1\n2\n"
    assert observation.info == {"stopped": True, "output": "0\n1\n2\n", "seconds": 1.25}
    assert note.info["stopped"] is True and "timings" in note.info
    assert [m.info.get("stopped") for m in (user, observation, note)] == [None, True, True]


def test_a_finished_turn_gets_no_stopped_note() -> None:
    turn = TurnBuffer([Message("user", "q")])
    turn.add(Message("assistant", "the answer"))
    assert [m.content for m in turn.close()] == ["q", "the answer"]


def test_stopped_before_the_first_token_says_so_and_produced_nothing() -> None:
    closed = TurnBuffer([Message("user", "q")]).close()
    assert [(m.role, m.info.get("stopped")) for m in closed] == [("user", None), ("assistant", True)]
    assert produced_nothing(closed), "a Retry stopped this early keeps the answer it was to replace"


def test_the_saved_snapshot_carries_a_running_calls_output(monkeypatch) -> None:
    monkeypatch.setattr("app.turn.SAVE_EVERY_S", 0.0)
    saved: list[list[Message]] = []
    call = Message("assistant", "print(1)", "python", "call_1")
    turn = TurnBuffer([Message("user", "go")], on_change=saved.append)
    turn.add(call)
    turn.tool_running(call, seconds=2.0, output="1\n")
    *_, running = saved[-1]
    assert (running.role, running.content, running.tool_call_id) == ("observation", "1\n", "call_1")
    assert running.info == {"partial": True, "output": "1\n", "seconds": 2.0}
