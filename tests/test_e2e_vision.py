"""/vision in the real app and headless Chromium: an image picked with the chat box's file button goes
to a scripted OpenAI-compatible server, the answer streams in, and the user's bubble shows the image."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import CHAT_BOX, MESSAGE, MESSAGE_TEXT, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_vision_page import png

ANSWER = "The picture is a plain red rectangle, " + "with nothing else in it at all " * 6


@pytest.fixture
def app_env(tmp_path: Path):
    """Vision on its own server (GLM_VISION_API_BASE), text on another, as with one vLLM per model."""
    vision = ScriptedServer([Rule("\n" + ANSWER, when="What colour", delay=0.05)])
    text = ScriptedServer([Rule("\nText answers come from here.")])
    with vision as server, text:
        yield (
            server,
            {
                "GLM_BACKEND": "openai",
                "GLM_API_BASE": text.base_url,
                "GLM_VISION_API_BASE": server.base_url,
                "GLM_VISION_MODEL": "glm-4v-scripted",
                "GLM_DATA_DIR": str(tmp_path / "data"),
            },
            text,
        )


def test_an_image_from_the_file_picker_gets_a_streamed_answer(app_env, tmp_path: Path) -> None:
    server, env, text_server = app_env
    picture = tmp_path / "red.png"
    picture.write_bytes(png((255, 0, 0), (120, 90)))
    with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.url}/vision")
        page.wait_for_selector(CHAT_BOX, timeout=30_000)
        with page.expect_file_chooser() as chooser:
            page.locator("[data-testid=stChatInputFileUploadButton]").click()
        chooser.value.set_files(str(picture))
        page.get_by_text("red.png").first.wait_for(timeout=30_000)
        page.fill(CHAT_BOX, "What colour is it?")
        page.press(CHAT_BOX, "Enter")

        answer = page.locator(MESSAGE).nth(1).locator(MESSAGE_TEXT)
        answer.wait_for(timeout=30_000)
        seen: list[str] = []
        for _ in range(400):
            text = answer.inner_text()
            if "plain red" in text and (not seen or seen[-1] != text):
                seen.append(text)
            if text.count("nothing else in it at all") >= 6:
                break
            page.wait_for_timeout(25)
        assert any(t.count("nothing else") < 6 for t in seen), f"the answer should stream, saw {seen[:3]}"
        page.wait_for_function(
            "() => document.body.innerText.split('nothing else in it at all').length - 1 >= 6", timeout=30_000
        )

        bubble = page.locator(MESSAGE).first
        assert "What colour is it?" in bubble.inner_text()
        thumbnail = bubble.locator("img").first
        thumbnail.wait_for(timeout=30_000)
        assert page.evaluate("(img) => img.complete && img.naturalWidth", thumbnail.element_handle()) == 160
        assert "red.png" in bubble.inner_text()
        page.screenshot(path=str(tmp_path / "vision.png"))

    [request] = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    assert text_server.requests == [], "the text model's server got nothing from the Vision page"
    [image_part, text_part] = request["body"]["messages"][-1]["content"]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert text_part == {"type": "text", "text": "What colour is it?"}
