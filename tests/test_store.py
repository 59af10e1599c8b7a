"""The conversation store on real SQLite files: restart, isolation, turns, titles, files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from app.store import UNTITLED, ConversationNotFound, Store, make_title, new_conversation_id
from app.store.schema import SCHEMA_VERSION, SchemaTooNewError
from models.messages import Attachment, Message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def tool_turn(question: str = "What is sin(1)? Plot it too.", n: int = 1) -> list[Message]:
    return [
        Message("user", question, attachments=[Attachment("image", "sketch.png", "image/png", data=PNG)]),
        Message(
            "assistant", f"import math\nprint(math.sin({n}))", metadata="python", tool_call_id=f"call_{n}"
        ),
        Message(
            "observation",
            "0.8414709848078965",
            tool_call_id=f"call_{n}",
            attachments=[Attachment("image", "plot.png", "image/png", data=PNG, path="/tmp/plot.png")],
        ),
        Message("assistant", 'search("sin 1")', metadata="simple_browser"),
        Message(
            "observation",
            "【0†Sine - Wikipedia†en.wikipedia.org】\nThe sine of 1 rad…",
            metadata="browser_result",
        ),
        Message(
            "assistant",
            f"sin({n}) ≈ 0.841【0†source】",
            info={
                "timings": {
                    "ttft_s": 0.42,
                    "tokens": 12,
                    "tools": [{"name": "python", "seconds": 1.5}],
                }
            },
        ),
    ]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path) as s:
        yield s


def test_conversation_with_tool_steps_survives_a_restart(tmp_path):
    state = {"browser": {"quotes": {"0": {"url": "https://en.wikipedia.org/wiki/Sine", "title": "Sine"}}}}
    first = Store(tmp_path)
    cid = first.create_conversation("alice", "chat")
    first.append_turn("alice", cid, tool_turn(n=1), tool_state=state)
    first.append_turn("alice", cid, [Message("user", "Thanks! And cos?"), Message("assistant", "0.54")])
    doc = first.attach_document("alice", cid, "../report.pdf", b"%PDF-1.4 tiny")
    before = first.load_conversation("alice", cid)
    first.close()

    restarted = Store(tmp_path)
    after = restarted.load_conversation("alice", cid)
    restarted.close()

    assert after == before
    assert after.turns[0] == tool_turn(n=1)
    assert after.messages[1].is_tool_call and after.messages[1].metadata == "python"
    assert after.messages[2].attachments[0].data == PNG
    assert after.tool_state == state
    assert after.title == "What is sin(1)? Plot it too."
    assert after.documents == [doc]
    assert doc.name == "../report.pdf" and doc.path.startswith(str(tmp_path / "users"))
    with open(doc.path, "rb") as fh:
        assert fh.read() == b"%PDF-1.4 tiny"


def test_default_location_is_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    with Store() as s:
        assert s.path == tmp_path / "data" / "studio.db"
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_app_is_refused(tmp_path):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "studio.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError):
        Store(tmp_path)


def test_users_are_isolated_even_with_the_id(store):
    cid = store.create_conversation("alice", "chat")
    store.append_turn("alice", cid, tool_turn())
    original = store.load_conversation("alice", cid)

    attempts = [
        lambda: store.load_conversation("bob", cid),
        lambda: store.rename("bob", cid, "mine now"),
        lambda: store.delete("bob", cid),
        lambda: store.append_turn("bob", cid, [Message("user", "hi")]),
        lambda: store.replace_last_turn("bob", cid),
        lambda: store.set_tool_state("bob", cid, {"x": 1}),
        lambda: store.conversation_dir("bob", cid),
        lambda: store.attach_document("bob", cid, "a.txt", b"a"),
    ]
    for attempt in attempts:
        with pytest.raises(ConversationNotFound) as someone_elses:
            attempt()
        assert str(someone_elses.value) == cid
    with pytest.raises(ConversationNotFound) as missing:
        store.load_conversation("alice", "0" * 32)
    assert type(missing.value) is type(someone_elses.value)

    assert store.list_conversations("bob", "chat") == []
    assert store.load_conversation("alice", cid) == original
    assert store.user_dir("alice") != store.user_dir("bob")
    evil = store.user_dir("../../etc")
    assert evil.parent == store.root / "users" and evil.name != ".."


def test_list_is_per_workspace_newest_first_with_titles(store):
    older = store.create_conversation("alice", "chat")
    newer = store.create_conversation("alice", "chat")
    store.create_conversation("alice", "vision", "A picture")
    store.append_turn("alice", older, [Message("user", "  first   question\nover two lines  ")])
    listed = store.list_conversations("alice", "chat")
    assert [c.id for c in listed] == [older, newer]
    assert [c.title for c in listed] == ["first question over two lines", UNTITLED]
    assert [c.title for c in store.list_conversations("alice", "vision")] == ["A picture"]
    long = make_title("word " * 40)
    assert len(long) == 60 and long.endswith("…")
    with pytest.raises(ValueError):
        store.create_conversation("alice", "email")


def test_rename_and_delete(store):
    cid = store.create_conversation("alice", "documents")
    store.append_turn("alice", cid, [Message("user", "Summarise the report")])
    store.attach_document("alice", cid, "report.txt", b"quarterly numbers")
    folder = store.conversation_dir("alice", cid)
    (folder / "output.csv").write_text("a,b\n")

    store.rename("alice", cid, "Q3 report")
    assert store.load_conversation("alice", cid).title == "Q3 report"
    store.append_turn("alice", cid, [Message("user", "More detail")])
    assert store.load_conversation("alice", cid).title == "Q3 report"
    with pytest.raises(ValueError):
        store.rename("alice", cid, "   ")

    store.delete("alice", cid)
    assert not folder.exists()
    assert store.list_conversations("alice", "documents") == []
    with pytest.raises(ConversationNotFound):
        store.load_conversation("alice", cid)
    rows = store._db.execute(
        "SELECT COUNT(*) FROM messages UNION ALL SELECT COUNT(*) FROM documents"
    ).fetchall()
    assert [r[0] for r in rows] == [0, 0]


def test_replace_last_turn_for_retry_and_edit(store):
    cid = store.create_conversation("alice", "chat")
    store.append_turn("alice", cid, tool_turn("first", n=1), tool_state={"v": 1})
    store.append_turn("alice", cid, tool_turn("second", n=2), tool_state={"v": 2})

    retried = [Message("user", "second"), Message("assistant", "a better answer")]
    store.replace_last_turn("alice", cid, retried, tool_state={"v": 3})
    loaded = store.load_conversation("alice", cid)
    assert loaded.turns == [tool_turn("first", n=1), retried]
    assert loaded.tool_state == {"v": 3}

    store.replace_last_turn("alice", cid)
    loaded = store.load_conversation("alice", cid)
    assert loaded.turns == [tool_turn("first", n=1)]
    assert loaded.tool_state == {"v": 3}
    assert store.append_turn("alice", cid, [Message("user", "third")]) == 1


def test_set_tool_state_and_empty_turns(store):
    cid = store.create_conversation("alice", "chat")
    store.set_tool_state("alice", cid, {"citations": {"1": "https://example.org"}})
    assert store.load_conversation("alice", cid).tool_state == {"citations": {"1": "https://example.org"}}
    with pytest.raises(ValueError):
        store.append_turn("alice", cid, [])
    with pytest.raises(TypeError):
        store.append_turn("alice", cid, [Message("user", "x")], tool_state={"bad": object()})
    assert store.load_conversation("alice", cid).turns == []


def test_documents_are_kept_once_per_content(store):
    cid = store.create_conversation("alice", "documents")
    a = store.attach_document("alice", cid, "a.txt", b"same bytes")
    b = store.attach_document("alice", cid, "copy of a.txt", b"same bytes")
    c = store.attach_document("alice", cid, "c.txt", b"other bytes")
    assert a == b
    assert [d.name for d in store.load_conversation("alice", cid).documents] == ["a.txt", "c.txt"]
    assert c.sha256 != a.sha256


def test_threads_share_one_store(store):
    ids = [store.create_conversation(f"user{i}", "chat") for i in range(4)]

    def work(i: int) -> None:
        for n in range(20):
            store.append_turn(f"user{i}", ids[i], [Message("user", f"{i}-{n}"), Message("assistant", "ok")])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, cid in enumerate(ids):
        turns = store.load_conversation(f"user{i}", cid).turns
        assert [t[0].content for t in turns] == [f"{i}-{n}" for n in range(20)]


def test_a_conversation_chosen_ahead_has_its_folder_before_its_first_turn(tmp_path) -> None:
    store = Store(tmp_path)
    cid = new_conversation_id()
    workdir = store.conversation_workdir("alice", cid)
    (workdir / "upload.csv").write_text("a,b\n1,2\n")
    assert store.create_conversation("alice", "chat", conversation_id=cid) == cid
    assert store.conversation_workdir("alice", cid) == workdir
    assert (workdir / "upload.csv").read_text() == "a,b\n1,2\n"
    assert store.conversation_workdir("bob", cid) != workdir
    assert not (store.conversation_workdir("bob", cid) / "upload.csv").exists()
    store.delete("alice", cid)
    assert not workdir.exists()


@pytest.mark.parametrize("bad", ["../x", "ABC", "0" * 31, "g" * 32, "0" * 32 + "/.."])
def test_conversation_ids_from_outside_are_checked(tmp_path, bad: str) -> None:
    store = Store(tmp_path)
    with pytest.raises(ValueError):
        store.create_conversation("alice", "chat", conversation_id=bad)
    with pytest.raises(ValueError):
        store.conversation_workdir("alice", bad)


def database_bytes(root) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.glob("studio.db*")) if p.is_file())


def test_a_deleted_conversation_leaves_no_readable_trace(tmp_path) -> None:
    secret = "the launch code is zebra-7731-quartz"
    with Store(tmp_path) as store:
        keep = store.create_conversation("alice", "chat")
        store.append_turn("alice", keep, [Message("user", "an ordinary question")])
        cid = store.create_conversation("alice", "documents")
        store.append_turn("alice", cid, [Message("user", secret), Message("assistant", f"Noted: {secret}")])
        store.attach_document("alice", cid, "codes.txt", secret.encode())
        (store.conversation_workdir("alice", cid) / "codes.csv").write_text(secret)
        folder = store.conversation_dir("alice", cid)
        assert secret.encode() in database_bytes(tmp_path)

        store.delete("alice", cid)
        assert not folder.exists()
        assert secret.encode() not in database_bytes(tmp_path), "freed pages and the WAL are wiped"
        assert store.load_conversation("alice", keep).messages[0].content == "an ordinary question"
    with Store(tmp_path) as reopened:
        assert [c.id for c in reopened.list_conversations("alice", "chat")] == [keep]


def test_search_and_limit_the_list(store) -> None:
    ids = {}
    for title in ["Budget 2024", "budget review", "Holiday plans", "100% sure_thing"]:
        ids[title] = store.create_conversation("alice", "chat", title)
    assert {c.title for c in store.list_conversations("alice", "chat", search="BUDGET")} == {
        "Budget 2024",
        "budget review",
    }
    assert [c.title for c in store.list_conversations("alice", "chat", search="0% s")] == ["100% sure_thing"]
    assert store.list_conversations("alice", "chat", search="%") == store.list_conversations(
        "alice", "chat", search="100%"
    )
    assert store.list_conversations("alice", "chat", search="_") != store.list_conversations("alice", "chat")
    assert len(store.list_conversations("alice", "chat", limit=3)) == 3
    assert store.list_conversations("bob", "chat", search="Budget") == []


def test_owners_from_before_mode_prefixes_are_migrated(tmp_path) -> None:
    from app.store.schema import _MIGRATIONS, safe_user_name

    db = sqlite3.connect(tmp_path / "studio.db")
    for statement in _MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    for owner, cid in [("local", "a" * 32), ("alice", "b" * 32), ("https://idp.example#42", "c" * 32)]:
        db.execute(
            "INSERT INTO conversations (id, owner, workspace, title, created, updated) "
            "VALUES (?, ?, 'chat', ?, 1, 1)",
            (cid, owner, f"{owner}'s"),
        )
    old_folder = tmp_path / "users" / safe_user_name("alice") / "conversations" / ("b" * 32)
    (old_folder / "documents").mkdir(parents=True)
    (old_folder / "documents" / "notes.txt").write_text("alice's notes")
    db.execute(
        "INSERT INTO documents VALUES (?, 'sha', 'notes.txt', ?, 1)",
        ("b" * 32, str(old_folder / "documents" / "notes.txt")),
    )
    db.commit()
    db.close()

    with Store(tmp_path) as store:
        assert [c.title for c in store.list_conversations("local", "chat")] == ["local's"]
        assert [c.title for c in store.list_conversations("pw:alice", "chat")] == ["alice's"]
        assert [c.title for c in store.list_conversations("oidc:https://idp.example#42", "chat")] == [
            "https://idp.example#42's"
        ]
        assert store.list_conversations("alice", "chat") == []
        (document,) = store.load_conversation("pw:alice", "b" * 32).documents
        assert Path(document.path).read_text() == "alice's notes"
        assert store.conversation_dir("pw:alice", "b" * 32) / "documents" / "notes.txt" == Path(document.path)
