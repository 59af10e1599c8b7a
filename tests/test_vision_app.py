"""The Vision page inside the app against a scripted OpenAI-compatible server (tests/test_vision_http.py):
models stay loaded across page switches, Retry and the system prompt reach the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.store import Store
from tests.test_vision_http import VisionServer
from tests.test_vision_page import PAGE, image_captions, png

MAIN = str(Path(__file__).resolve().parent.parent / "app" / "main.py")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VisionServer]:
    scripted = VisionServer()
    scripted.thread.start()
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_API_BASE", scripted.base)
    monkeypatch.setenv("GLM_VISION_MODEL", "glm-4v-scripted")
    monkeypatch.setenv("GLM_MODEL", "glm-4-scripted")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    yield scripted
    scripted.httpd.shutdown()
    scripted.httpd.server_close()


def ask_about_red(at: AppTest, text: str = "Colour?") -> None:
    at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value(text)
    at.run()
    assert not at.exception


def test_switching_pages_never_reloads_a_model(server: VisionServer) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    assert server.model_lists == 1, "the text model loads for the first page"
    at.switch_page("pages/vision.py").run()
    assert server.model_lists == 2, "the vision model loads when /vision first opens"
    ask_about_red(at)
    for page in ["pages/chat.py", "pages/vision.py", "pages/chat.py", "pages/vision.py"]:
        at.switch_page(page).run()
        assert not at.exception
    assert server.model_lists == 2
    assert [m.role for m in at.session_state["conversation:vision"].messages] == ["user", "assistant"]
    assert at.chat_message[1].markdown[-1].value == "I see 1 image(s): 80x60 (255, 0, 0)."
    speed = " ".join(c.value for c in at.chat_message[1].caption)
    assert "tokens/s" in speed and "chunks/s" not in speed, "speeds in tokens on every page"


def test_retry_resends_the_image_and_replaces_the_answer(server: VisionServer, tmp_path: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    ask_about_red(at)
    retry = next(b for b in at.sidebar.button if "Retry" in b.label)
    retry.click().run()
    assert not at.exception
    first, again = server.requests
    assert again["messages"] == first["messages"]
    assert [server.images(r)[0].getpixel((40, 30)) for r in server.requests] == [(255, 0, 0)] * 2
    conversation = at.session_state["conversation:vision"]
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    assert image_captions(at.chat_message[0]) == ["red.png"]
    stored = Store(tmp_path / "data").load_conversation("local", conversation.id)
    assert len(stored.turns) == 1


def test_the_system_prompt_goes_first(server: VisionServer) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    at.sidebar.text_area(key="vision-system").set_value("Answer in French.")
    ask_about_red(at, "Quelle couleur ?")
    sent = server.requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in French."}
    assert [p["type"] for p in sent[1]["content"]] == ["image_url", "text"]
    assert sent[1]["content"][1]["text"] == "Quelle couleur ?"
    assert [m.role for m in at.session_state["conversation:vision"].messages] == ["user", "assistant"]
