"""A newcomer without weights, in headless Chromium: the welcome links to Models, one click builds the
tiny demo models, and the chat answers with them; the Models page in Chinese too."""

import os
from pathlib import Path

from models.saved import KEYS
from tests.e2e import CHAT_BOX, MESSAGE, MESSAGE_TEXT, chromium, running_app

MAIN = "[data-testid=stMainBlockContainer]"


def test_from_welcome_to_an_answer_with_the_tiny_demo_model(tmp_path: Path, monkeypatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    env = {"GLM_DATA_DIR": str(tmp_path / "data"), "GLM_KERNEL_POOL": "0", "GLM_SEARCH_BACKEND": ""}
    assert not any(os.environ.get(name) for name in KEYS)
    with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
        page = browser.new_page(locale="en-US")
        page.goto(app.url)
        page.get_by_text("Welcome to GLM Studio").wait_for(timeout=60_000)
        assert "Error" not in page.locator(MAIN).inner_text()
        page.screenshot(path=str(tmp_path / "welcome-en.png"))

        page.locator(MAIN).get_by_role("link", name="Open Models").click()
        page.get_by_role("button", name="Create a tiny demo model").click()
        page.get_by_text("The tiny demo models are ready and in use.").wait_for(timeout=300_000)
        page.screenshot(path=str(tmp_path / "models-en.png"), full_page=True)

        page.get_by_role("link", name="Try it in All Tools").click()
        page.wait_for_selector(CHAT_BOX, timeout=60_000)
        page.wait_for_function(f"() => !document.querySelector('{CHAT_BOX}').disabled", timeout=120_000)
        page.fill(CHAT_BOX, "Hello!")
        page.press(CHAT_BOX, "Enter")
        answer = page.locator(MESSAGE).nth(1)
        # "total" ends every timing caption; tokens/s needs an answer that came in more than one
        # piece, and the random model often stops sooner.
        answer.get_by_text("total").wait_for(timeout=180_000)
        assert "first token" in answer.locator(MESSAGE_TEXT).inner_text(), "the model wrote something"
        page.screenshot(path=str(tmp_path / "answer-en.png"), full_page=True)

        chinese = browser.new_page(locale="zh-CN")
        chinese.goto(f"{app.url}/models")
        chinese.get_by_role("heading", name="模型设置").wait_for(timeout=60_000)
        chinese.get_by_text("当前使用").first.wait_for()
        chinese.screenshot(path=str(tmp_path / "models-zh.png"), full_page=True)
