"""The Long document and Vision pages' turns (AppTest, scripted server over real HTTP): Retry and edit,
errors kept with the turn, step timings stored, and a conversation reopened by its URL."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.docs import isolate
from app.store import Store
from tests.scripted_server import Rule, ScriptedServer, tokens
from tests.test_vision_page import image_captions

PAGES = Path(__file__).resolve().parent.parent / "app" / "pages"
MEMO = b"The cafeteria closes at 3 pm.\nParking is in lot B."


def png(color: tuple[int, int, int]) -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_MODE", "chat")  # the tests read the chat messages sent
    monkeypatch.setenv("GLM_VISION_MODEL", "glm-4-scripted")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_MAX_CONTEXT", "4096")
    servers: list[ScriptedServer] = []

    def serve(rules: list[Rule]) -> ScriptedServer:
        server = ScriptedServer(rules).__enter__()
        servers.append(server)
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        return server

    yield serve, tmp_path / "data"
    for server in servers:
        server.__exit__()
    isolate.shutdown()


def open_page(name: str, cid: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=120)
    if cid:
        at.query_params["c"] = cid
    at.run()
    assert not at.exception
    return at


def stored(data: Path, at: AppTest, workspace: str):
    return Store(data).load_conversation("local", at.session_state[f"conversation:{workspace}"].id)


def retry(at: AppTest) -> None:
    next(b for b in at.sidebar.button if "Retry" in b.label).click().run()
    assert not at.exception


def resend(at: AppTest, workspace: str, old: str, new: str) -> None:
    (editor,) = [t for t in at.text_area if t.value == old]
    editor.set_value(new)
    at.button(key=f"FormSubmitter:edit-{workspace}-Resend").click().run()
    assert not at.exception


def ask_documents(at: AppTest, text: str) -> None:
    at.chat_input(key="documents-input").set_value(text).run()
    assert not at.exception


def with_memo(at: AppTest) -> AppTest:
    at.file_uploader(key=f"documents-upload-{at.session_state['conversation:documents'].id}").upload(
        "memo.txt", MEMO, "text/plain"
    )
    at.run()
    assert not at.exception
    return at


def test_documents_retry_edit_timings_and_reopen(env) -> None:
    serve, data = env
    server = serve(
        [
            Rule("\nIt closes at 3 pm [memo.txt, lines 1-2].", when="cafeteria close", times=1),
            Rule("\nAt 3 pm, as the memo says [memo.txt, lines 1-2].", when="cafeteria close"),
            Rule("\nLot B [memo.txt, lines 1-2].", when="park"),
        ]
    )
    at = with_memo(open_page("documents.py"))
    ask_documents(at, "When does the cafeteria close?")
    answer = stored(data, at, "documents").messages[1]
    timings = answer.info["timings"]
    assert timings["ttft_s"] > 0
    reply = "\nIt closes at 3 pm [memo.txt, lines 1-2]."
    assert (timings["counted_by"], timings["tokens"]) == ("server", len(tokens(reply)))

    retry(at)
    assert "At 3 pm, as the memo says" in at.chat_message[1].markdown[0].value
    turns = stored(data, at, "documents").turns
    assert len(turns) == 1 and "as the memo says" in turns[0][1].content

    resend(at, "documents", "When does the cafeteria close?", "Where do I park?")
    assert at.chat_message[0].markdown[0].value == "Where do I park?"
    assert server.requests[-1]["body"]["messages"][-1]["content"] == "Where do I park?"
    (turn,) = stored(data, at, "documents").turns
    assert [m.content for m in turn] == ["Where do I park?", "Lot B [memo.txt, lines 1-2]."]

    reopened = open_page("documents.py", at.session_state["conversation:documents"].id)
    assert any("memo.txt" in c.value for c in reopened.caption), "the document list"
    _, assistant = reopened.chat_message
    assert assistant.expander[0].label.startswith("memo.txt · whole file"), "the answer's sources"


def test_documents_errors_stay_and_a_failed_retry_keeps_the_answer(env) -> None:
    serve, data = env
    serve([Rule("\nIt closes at 3 pm.", when="cafeteria", times=1)])
    at = with_memo(open_page("documents.py"))
    ask_documents(at, "When does the cafeteria close?")
    retry(at)
    assert at.chat_message[1].markdown[0].value == "It closes at 3 pm."
    assert "The previous answer was kept." in at.error[-1].value
    ask_documents(at, "And the library?")
    last = stored(data, at, "documents").turns[-1]
    assert last[1].content == "" and "500" in last[1].info["error"]


def test_documents_history_shows_errors_and_timings(env) -> None:
    serve, _ = env
    serve([Rule("\nIt closes at 3 pm.", when="cafeteria")])
    at = with_memo(open_page("documents.py"))
    ask_documents(at, "When does the cafeteria close?")
    ask_documents(at, "And the library?")
    reopened = open_page("documents.py", at.session_state["conversation:documents"].id)
    assert any("tokens/s" in c.value for c in reopened.chat_message[1].caption)
    assert any("500" in e.value for e in reopened.chat_message[3].error)


def ask_vision(at: AppTest, text: str, *images: tuple[str, bytes]) -> None:
    prompt = at.chat_input(key="vision-input")
    for name, data in images:
        prompt.upload(name, data, "image/png")
    prompt.set_value(text)
    at.run()
    assert not at.exception


def images_sent(server: ScriptedServer) -> int:
    return json.dumps(server.requests[-1]["body"]["messages"]).count("data:image/png;base64,")


def test_vision_retry_edit_keep_the_images_and_reopen_shows_them(env) -> None:
    serve, data = env
    server = serve([Rule("\nA red square.", when="colour"), Rule("\nIt is 64 by 48.", when="size")])
    at = open_page("vision.py")
    ask_vision(at, "What colour is it?", ("red.png", png((255, 0, 0))))
    answer = stored(data, at, "vision").messages[1]
    assert answer.content == "A red square." and answer.info["timings"]["tokens"] > 0

    retry(at)
    assert images_sent(server) == 1
    resend(at, "vision", "What colour is it?", "What size is it?")
    assert images_sent(server) == 1, "the edited question keeps its image"
    (turn,) = stored(data, at, "vision").turns
    assert [m.content for m in turn] == ["What size is it?", "It is 64 by 48."]
    assert [a.name for a in turn[0].attachments] == ["red.png"]

    reopened = open_page("vision.py", at.session_state["conversation:vision"].id)
    user, assistant = reopened.chat_message
    assert image_captions(user) == ["red.png"]
    assert assistant.markdown[0].value == "It is 64 by 48."


def test_vision_errors_stay_with_the_turn(env) -> None:
    serve, data = env
    serve([])
    at = open_page("vision.py")
    ask_vision(at, "Hello?", ("red.png", png((255, 0, 0))))
    (turn,) = stored(data, at, "vision").turns
    assert [m.role for m in turn] == ["user", "assistant"] and "500" in turn[1].info["error"]


def test_vision_history_shows_errors_and_timings(env) -> None:
    serve, _ = env
    serve([Rule("\nA red square.", when="colour")])
    at = open_page("vision.py")
    ask_vision(at, "What colour is it?", ("red.png", png((255, 0, 0))))
    ask_vision(at, "Hello?")
    assert any("tokens/s" in c.value for c in at.chat_message[1].caption), "the server's usage, asked for"
    assert any("500" in e.value for e in at.chat_message[3].error)
