"""Turns written as they go, checked against the conversation's version, and attachment bytes kept
as files beside the conversation (not in SQLite), read only when asked for."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from app.store import StaleConversation, Store
from app.store.blobs import BLOBS, blob_name
from app.store.schema import _MIGRATIONS, SCHEMA_VERSION, safe_user_name
from app.turn import INTERRUPTED_TOOL, TurnBuffer, interrupted
from models.messages import Attachment, Message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
USER = "alice"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path) as s:
        yield s


def answered(question: str, answer: str) -> list[Message]:
    return [Message("user", question), Message("assistant", answer)]


def test_a_turn_is_stored_from_its_question_on_and_each_step_as_it_comes(store: Store) -> None:
    cid = store.create_conversation(USER, "chat")
    opened = store.begin_turn(USER, cid, Message("user", "plot it"), version=0)
    assert store.load_conversation(USER, cid).messages == [Message("user", "plot it")]
    turn = TurnBuffer([Message("user", "plot it")])
    turn.on_change = lambda messages: store.save_open_turn(USER, cid, opened.token, messages)
    turn.add(Message("assistant", "plot()", "python", "c1"))
    stored = store.load_conversation(USER, cid)
    assert [m.content for m in stored.messages] == ["plot it", "plot()"]
    assert stored.open_turn == opened.token
    turn.stream("Here ")
    turn.stream("it is")  # within a second of the last save: not yet written
    assert len(store.load_conversation(USER, cid).messages) == 2
    assert [m.content for m in turn.snapshot()][-1] == "Here it is"
    final = turn.close()
    assert store.finish_turn(USER, cid, opened.token, final) == opened.version + 1
    assert store.load_conversation(USER, cid).messages == final
    assert store.load_conversation(USER, cid).open_turn is None
    assert not store.save_open_turn(USER, cid, opened.token, final[:1]), (
        "a finished turn takes no more writes"
    )


def test_a_stale_tab_can_neither_retry_nor_append_over_a_newer_turn(store: Store) -> None:
    cid = store.create_conversation(USER, "chat")
    first = store.begin_turn(USER, cid, Message("user", "one"), version=0)
    seen_by_both = store.finish_turn(USER, cid, first.token, answered("one", "1"))
    tab2 = store.begin_turn(USER, cid, Message("user", "two"), version=seen_by_both)
    store.finish_turn(USER, cid, tab2.token, answered("two", "2"))
    for replace in (True, False):
        with pytest.raises(StaleConversation):
            store.begin_turn(USER, cid, Message("user", "one, again"), version=seen_by_both, replace=replace)
    assert [m.content for m in store.load_conversation(USER, cid).messages] == ["one", "1", "two", "2"]


def test_a_turn_open_in_one_tab_refuses_another_tabs_turn(store: Store) -> None:
    cid = store.create_conversation(USER, "chat")
    running = store.begin_turn(USER, cid, Message("user", "slow"), version=0)
    with pytest.raises(StaleConversation) as refused:
        store.begin_turn(USER, cid, Message("user", "fast"), version=running.version)
    assert refused.value.open_turn == running.token


def test_a_retry_replaces_the_last_turn_only_when_it_ends_with_something(store: Store) -> None:
    cid = store.create_conversation(USER, "chat")
    store.append_turn(USER, cid, answered("q", "old answer"))
    version = store.load_conversation(USER, cid).version
    retry = store.begin_turn(USER, cid, Message("user", "q"), version=version, replace=True)
    assert [m.content for m in store.load_conversation(USER, cid).messages] == ["q", "old answer"]
    nothing = store.finish_turn(USER, cid, retry.token, [Message("user", "q")], keep_replaced=True)
    assert [m.content for m in store.load_conversation(USER, cid).messages] == ["q", "old answer"]
    retry = store.begin_turn(USER, cid, Message("user", "q"), version=nothing, replace=True)
    store.finish_turn(USER, cid, retry.token, answered("q", "new answer"))
    assert [m.content for m in store.load_conversation(USER, cid).messages] == ["q", "new answer"]


def test_an_abandoned_turn_is_closed_as_interrupted_with_what_it_produced(store: Store) -> None:
    cid = store.create_conversation(USER, "chat")
    store.append_turn(USER, cid, answered("first", "ok"))
    opened = store.begin_turn(USER, cid, Message("user", "second"), version=1)
    call = Message("assistant", "while True: pass", "python", "c9")
    store.save_open_turn(USER, cid, opened.token, [Message("user", "second"), call])
    messages = store.open_turn_messages(USER, cid, opened.token)
    assert messages is not None and messages[-1] == call
    store.finish_turn(USER, cid, opened.token, interrupted(messages))
    *_, observation, note = store.load_conversation(USER, cid).messages
    assert (observation.content, observation.tool_call_id) == (INTERRUPTED_TOOL, "c9")
    assert note.info == {"interrupted": True} and note.content == ""


def test_interrupted_keeps_a_partial_answer_and_marks_a_bare_question() -> None:
    partial = [Message("user", "q"), Message("assistant", "half an ans", info={"partial": True})]
    assert interrupted(partial)[-1] == Message("assistant", "half an ans", info={"interrupted": True})
    assert interrupted([Message("user", "q")]) == [
        Message("user", "q"),
        Message("assistant", "", info={"interrupted": True}),
    ]


def test_attachment_bytes_live_in_files_and_are_read_only_when_asked_for(
    store: Store, tmp_path: Path
) -> None:
    cid = store.create_conversation(USER, "chat")
    image = Attachment("image", "plot.png", "image/png", data=PNG)
    store.append_turn(
        USER, cid, [Message("user", "plot"), Message("observation", "[image]", attachments=[image])]
    )
    raw = store._db.execute("SELECT group_concat(body) FROM messages").fetchone()[0]
    assert base64.b64encode(PNG[:60]).decode()[:40] not in raw and len(raw) < 1000
    blob = tmp_path / "users" / safe_user_name(USER) / "conversations" / cid / BLOBS / blob_name(PNG)
    assert blob.read_bytes() == PNG
    loaded = store.load_conversation(USER, cid).messages[1].attachments[0]
    assert loaded.held is None, "nothing read yet"
    assert loaded.data == PNG
    blob.unlink()
    blob.symlink_to(tmp_path / "studio.db")
    assert loaded.data is None, "a blob is never read through a link"


def test_images_stored_inline_by_older_versions_move_out_and_still_open(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "studio.db")
    for statements in _MIGRATIONS[:2]:
        for statement in statements:
            db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    db.execute(
        "INSERT INTO conversations VALUES ('c' || hex(zeroblob(15)), 'local', 'chat', 'old', 1, 1, '{}')"
    )
    (cid,) = db.execute("SELECT id FROM conversations").fetchone()
    old = Message("observation", "[image]", attachments=[Attachment("image", "p.png", "image/png", data=PNG)])
    db.execute("INSERT INTO messages VALUES (?, 0, 0, ?)", (cid, json.dumps(Message("user", "q").to_dict())))
    db.execute("INSERT INTO messages VALUES (?, 0, 1, ?)", (cid, json.dumps(old.to_dict())))
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        (body,) = store._db.execute("SELECT body FROM messages WHERE position = 1").fetchone()
        assert json.loads(body)["attachments"][0]["data"] is None
        assert store.load_conversation("local", cid).messages[1] == old


def test_every_call_of_an_interrupted_step_gets_its_result() -> None:
    step = [
        Message("user", "two at once"),
        Message("assistant", "a()", "python", "c1"),
        Message("assistant", "b()", "python", "c2"),
        Message("observation", "a done", tool_call_id="c1"),
    ]
    *_, second, note = interrupted(step)
    assert (second.tool_call_id, second.content) == ("c2", INTERRUPTED_TOOL)
    assert note.info == {"interrupted": True}


def test_a_call_running_when_the_page_went_keeps_its_output_so_far() -> None:
    """The open turn was saved with the running call's output (`TurnBuffer.snapshot`): a reload
    closes it as interrupted after that output, for the step and for the model."""
    turn = [
        Message("user", "count"),
        Message("assistant", "for i in range(9): print(i)", "python", "c1"),
        Message(
            "observation",
            "0\n1\n",
            tool_call_id="c1",
            info={"partial": True, "output": "0\n1\n", "seconds": 0.7},
        ),
    ]
    *_, call, observation, note = interrupted(turn)
    assert call.tool_call_id == "c1"
    assert observation.content == f"{INTERRUPTED_TOOL} Its output until then:\n0\n1\n"
    assert observation.info == {"output": "0\n1\n", "seconds": 0.7, "interrupted": True}
    assert note.info == {"interrupted": True}
