"""The Vision page in Streamlit's AppTest with the tiny in-process Glm4v checkpoint."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.store import Store
from models.tiny import build_vision_checkpoint

PAGE = str(Path(__file__).resolve().parent.parent / "app" / "pages" / "vision.py")


def png(color: tuple[int, int, int], size: tuple[int, int] = (80, 60)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vision_checkpoint(tmp_path_factory.mktemp("tiny-glm4v-page"))


@pytest.fixture
def data_dir(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_VISION_MODEL", str(checkpoint))
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def image_captions(block) -> list[list[str]]:
    return [child.captions for child in block.children.values() if child.type == "image"]


def set_short_answers(at: AppTest) -> None:
    at.sidebar.number_input(key="vision-max-new").set_value(16)


def test_images_at_two_turns_show_as_thumbnails_and_are_stored(data_dir: Path) -> None:
    at = open_page()
    set_short_answers(at)
    at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value(
        "What is it?"
    )
    at.run()
    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == "What is it?"
    assert image_captions(user) == [["red.png"]]
    assert assistant.markdown
    at.chat_input(key="vision-input").upload("blue.png", png((0, 0, 255)), "image/png").upload(
        "green.png", png((0, 255, 0)), "image/png"
    ).set_value("And these two?")
    at.run()
    assert not at.exception
    assert [image_captions(m) for m in at.chat_message] == [
        [["red.png"]],
        [],
        [["blue.png", "green.png"]],
        [],
    ]
    messages = at.session_state["conversation:vision"].messages
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [a.name for a in messages[2].attachments] == ["blue.png", "green.png"]
    stored = Store(data_dir).load_conversation("local", at.session_state["conversation:vision"].id)
    assert [len(m.attachments) for m in stored.messages] == [1, 0, 2, 0]
    assert Image.open(BytesIO(stored.messages[0].attachments[0].data)).getpixel((40, 30)) == (255, 0, 0)


def test_a_bad_file_is_refused_with_a_clear_message(data_dir: Path) -> None:
    at = open_page()
    at.chat_input(key="vision-input").upload("fake.png", b"not really a picture", "image/png").set_value("Hi")
    at.run()
    assert not at.exception
    assert "fake.png is not an image we can read" in at.error[0].value
    assert not at.chat_message
    assert at.session_state["conversation:vision"].messages == []


def test_a_pdf_page_can_be_attached(data_dir: Path) -> None:
    import pymupdf

    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "Quarterly report")
    document.new_page()
    at = open_page()
    set_short_answers(at)
    at.sidebar.file_uploader(key="vision-pdf").upload("report.pdf", document.tobytes(), "application/pdf")
    at.run()
    at.sidebar.number_input(key="vision-pdf-page").set_value(2)
    at.sidebar.button(key="vision-pdf-attach").click().run()
    assert not at.exception
    assert "Attached to your next message:" in [c.value for c in at.caption]
    at.chat_input(key="vision-input").set_value("Summarise this page").run()
    assert not at.exception
    [message] = [m for m in at.session_state["conversation:vision"].messages if m.role == "user"]
    assert [a.name for a in message.attachments] == ["report p2.png"]


def test_a_model_that_cannot_load_says_what_to_set(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_VISION_MODEL", str(data_dir / "no-such-model"))
    at = open_page()
    assert "GLM_VISION_MODEL" in at.error[0].value
    assert at.chat_input(key="vision-input-off").disabled
