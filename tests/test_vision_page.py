"""The Vision page in Streamlit's AppTest with the tiny in-process Glm4v checkpoint."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.store import Store
from models.messages import Attachment
from models.tiny import VISION_MAX_PIXELS, build_vision_checkpoint

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


def image_captions(block) -> list[str]:
    """Names of the images shown in `block` (inline `data:` images in `st.html`, app/ui/images_view.py)."""
    return [
        name for html in block.get("html") for name in re.findall(r'<img [^>]*alt="([^"]*)"', html.proto.body)
    ]


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
    assert image_captions(user) == ["red.png"]
    assert assistant.markdown
    at.chat_input(key="vision-input").upload("blue.png", png((0, 0, 255)), "image/png").upload(
        "green.png", png((0, 255, 0)), "image/png"
    ).set_value("And these two?")
    at.run()
    assert not at.exception
    assert [image_captions(m) for m in at.chat_message] == [
        ["red.png"],
        [],
        ["blue.png", "green.png"],
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


def two_page_pdf(second_page: tuple[int, int] = (595, 842)) -> bytes:
    import pymupdf

    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "Quarterly report")
    document.new_page(width=second_page[0], height=second_page[1])
    return document.tobytes()


def staged(at: AppTest):
    return at.session_state[f"vision-staged:{at.session_state['conversation:vision'].id}"]


def attach_page(at: AppTest, pdf: bytes, page: int) -> None:
    at.sidebar.file_uploader(key="vision-pdf").upload("report.pdf", pdf, "application/pdf")
    at.run()
    at.sidebar.number_input(key="vision-pdf-page").set_value(page)
    at.sidebar.button(key="vision-pdf-attach").click().run()


def test_the_page_sends_images_at_the_models_size(data_dir: Path) -> None:
    at = open_page()
    set_short_answers(at)
    at.chat_input(key="vision-input").upload("big.png", png((0, 128, 0), (1200, 900)), "image/png").set_value(
        "Big?"
    )
    at.run()
    assert not at.exception
    [sent] = at.session_state["conversation:vision"].messages[0].attachments
    width, height = Image.open(BytesIO(sent.data)).size
    assert width * height <= VISION_MAX_PIXELS
    assert width * height > 0.9 * VISION_MAX_PIXELS
    assert abs(width / height - 4 / 3) < 0.02


def test_a_refused_upload_keeps_the_text_and_the_good_images(data_dir: Path) -> None:
    at = open_page()
    set_short_answers(at)
    attach_page(at, two_page_pdf(), 1)
    prompt = at.chat_input(key="vision-input")
    prompt.upload("strip.png", png((0, 0, 0), (6000, 20)), "image/png")
    prompt.upload("red.png", png((255, 0, 0)), "image/png").set_value("Compare the strip with the red one")
    at.run()
    assert not at.exception
    assert not at.chat_message
    [error] = at.error
    assert "strip.png is 6000×20, a 300:1 strip" in error.value and "Nothing was sent" in error.value
    assert [t.value for t in at.text_area if "strip" in t.value] == ["Compare the strip with the red one"]
    assert [a.name for a in staged(at).attachments] == ["report p1.png", "red.png"]

    at.chat_input(key="vision-input").set_value("Compare the page with the red one").run()
    assert not at.exception
    [message, _] = at.session_state["conversation:vision"].messages
    assert [a.name for a in message.attachments] == ["report p1.png", "red.png"]
    assert not at.error and not staged(at).attachments


def test_staged_pages_are_checked_belong_to_their_chat_and_never_break_the_page(data_dir: Path) -> None:
    at = open_page()
    attach_page(at, two_page_pdf(second_page=(3000, 10)), 2)
    assert not at.exception
    assert "report.pdf: page 2 is 3000 × 10 points, a shape beyond 150:1" in at.sidebar.error[0].value
    assert not staged(at).attachments

    at.sidebar.number_input(key="vision-pdf-page").set_value(1)
    at.sidebar.button(key="vision-pdf-attach").click().run()
    at.sidebar.button(key="vision-pdf-attach").click().run()
    assert [a.name for a in staged(at).attachments] == ["report p1.png"]
    assert "report p1.png is already attached." in at.sidebar.info[0].value

    staged(at).attachments.append(Attachment("image", "junk.png", "image/png", b"not an image"))
    at.run()
    assert not at.exception
    assert ":material/broken_image: junk.png can't be shown" in [c.value for c in at.caption]
    at.button(key="vision-unstage").click().run()
    assert not at.exception and not staged(at).attachments

    at.sidebar.button(key="vision-pdf-attach").click().run()
    assert staged(at).attachments
    at.sidebar.button(key="vision-new").click().run()
    assert not at.exception
    assert not staged(at).attachments
    assert "Attached to your next message:" not in [c.value for c in at.caption]


def test_a_stored_vision_conversation_reopens_with_its_thumbnails(data_dir: Path) -> None:
    at = open_page()
    set_short_answers(at)
    at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value("What?")
    at.run()
    conversation_id = at.session_state["conversation:vision"].id

    reopened = AppTest.from_file(PAGE, default_timeout=120)
    reopened.query_params["c"] = conversation_id
    reopened.run()
    assert not reopened.exception
    user, _ = reopened.chat_message
    assert user.markdown[0].value == "What?"
    assert image_captions(user) == ["red.png"]
