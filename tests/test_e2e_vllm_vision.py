"""The Vision page of the real app in headless Chromium, with text and vision on two real vLLM servers
(GLM_API_BASE and GLM_VISION_API_BASE), as a user serving GLM-4-9B and GLM-4.1V runs it.

An image picked with the chat box's file button goes to the vision server only, the answer streams
back, and the server's own prompt token count (stored with the answer from the stream's usage) is the
question's count plus exactly the tokens GLM-4.1V makes of that image: the picture reached the model.
Recording proxies in front of both servers show what each was sent.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import CHAT_BOX, MESSAGE, RunningApp, chromium, running_app
from tests.test_e2e_vllm import ask, open_page, turns_stored
from tests.test_vllm_vision import IMAGE_TAGS, image_tokens, png
from tests.vllm_server import TEST_TIMEOUT_S, Recorder, recording_proxy

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


@pytest.fixture(scope="module")
def studio(
    vllm_text, vllm_vision, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningApp, Recorder, Recorder, Path]]:
    root = tmp_path_factory.mktemp("e2e-vllm-vision")
    with (
        recording_proxy(vllm_text.base_url) as (text_base, text),
        recording_proxy(vllm_vision.base_url) as (vision_base, vision),
    ):
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": text_base,
            "GLM_VISION_BACKEND": "openai",
            "GLM_VISION_API_BASE": vision_base,
            "GLM_VISION_MODEL": vllm_vision.model,
            "GLM_DATA_DIR": str(root / "data"),
        }
        with running_app(env, root / "app.log") as app:
            yield app, text, vision, root / "data"


def words(text: str) -> str:
    """The text's letters and digits only: what survives Markdown rendering of random model output."""
    return re.sub(r"[\W_]", "", text)


def server_count(base_url: str, model: str, messages: list[dict]) -> int:
    """The prompt tokens vLLM counts for `messages` (its chat template, images expanded)."""
    answer = httpx.post(
        f"{base_url.removesuffix('/v1')}/tokenize", json={"model": model, "messages": messages}
    )
    answer.raise_for_status()
    return answer.json()["count"]


def test_an_uploaded_image_reaches_the_vision_server_and_the_answer_streams_back(
    studio, vllm_vision, tmp_path: Path
) -> None:
    app, text, vision, data = studio
    picture = tmp_path / "red.png"
    picture.write_bytes(png((255, 0, 0), (120, 90)))
    with chromium() as browser:
        page = open_page(browser, f"{app.url}/vision")
        page.get_by_text(vllm_vision.model).first.wait_for(timeout=30_000)
        with page.expect_file_chooser() as chooser:
            page.locator("[data-testid=stChatInputFileUploadButton]").click()
        chooser.value.set_files(str(picture))
        page.get_by_text("red.png").first.wait_for(timeout=30_000)
        ask(page, "What colour is it?")
        (turn,) = turns_stored(data, "vision", 1)
        answer = turn[-1]
        # The stored answer is the one shown (once the page has drawn the turn from the store).
        page.wait_for_function(
            """([selector, expected]) => [...document.querySelectorAll(selector)].some(
                (m) => m.innerText.replace(/[^\\p{L}\\p{N}]/gu, "").includes(expected))""",
            arg=[MESSAGE, words(answer.content)[:12]],
            timeout=60_000,
        )
        thumbnail = page.locator(MESSAGE, has_text="What colour is it?").first.locator("img").first
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", thumbnail.element_handle())
        page.wait_for_selector(CHAT_BOX)
        page.screenshot(path=str(tmp_path / "vision-vllm.png"))

    assert answer.role == "assistant" and answer.content.strip() and not answer.info.get("error"), answer
    assert answer.info["timings"]["counted_by"] == "server", "vLLM reported usage on the stream"
    [request] = [r for r in vision.model_requests() if r["path"] == "/v1/chat/completions"]
    assert request["body"]["model"] == vllm_vision.model and request["body"]["stream"] is True
    messages = request["body"]["messages"]
    [image_part, text_part] = messages[-1]["content"]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert text_part == {"type": "text", "text": "What colour is it?"}
    sent = base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])
    without_image = [*messages[:-1], {**messages[-1], "content": [text_part]}]
    question = server_count(vllm_vision.base_url, vllm_vision.model, without_image)
    expected = question + IMAGE_TAGS + image_tokens(vllm_vision.checkpoint, sent)
    assert answer.info["prompt_tokens"] == expected, "the server's count of the prompt it answered"
    assert text.model_requests() == [], "the text model's server got nothing from the Vision page"
