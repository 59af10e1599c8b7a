"""The real app in headless Chromium: a streamed answer, a tool step, and a reload that keeps them."""

from pathlib import Path

import pytest

from tests.e2e import CHAT_BOX, MESSAGE, MESSAGE_TEXT, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import PLUGIN

ANSWER = "In Paris it is 21 degrees and sunny, " + "a fine day for a walk along the river " * 6


@pytest.fixture
def app_url(tmp_path: Path):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [
        Rule('get_weather\n{"city": "Paris"}', when="weather"),
        Rule("\n" + ANSWER, when="21 degrees", delay=0.05),
    ]
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_TOOLS": str(plugin),
        }
        with running_app(env, tmp_path / "app.log") as app:
            yield app.url


def test_streamed_answer_with_a_tool_step_survives_reload(app_url: str, tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(app_url)
        page.wait_for_selector(CHAT_BOX, timeout=30_000)
        page.fill(CHAT_BOX, "What's the weather in Paris?")
        page.press(CHAT_BOX, "Enter")

        page.get_by_text("get_weather", exact=False).first.wait_for(timeout=30_000)
        answer = page.locator(MESSAGE).nth(1).locator(MESSAGE_TEXT)
        seen: list[str] = []
        for _ in range(400):
            text = answer.inner_text()
            if "In Paris" in text and (not seen or seen[-1] != text):
                seen.append(text)
            if "along the river" in text and text.strip().endswith("river"):
                break
            page.wait_for_timeout(25)
        page.screenshot(path=str(tmp_path / "chat.png"))
        partial = [t for t in seen if "In Paris" in t and t.count("along the river") < 6]
        assert partial, f"the answer should appear piece by piece, saw {seen[:3]}"
        page.wait_for_function(
            "() => document.body.innerText.split('along the river').length - 1 >= 6", timeout=30_000
        )
        assert page.locator(MESSAGE).count() == 2
        assert "get_weather" in page.locator(MESSAGE).nth(1).inner_text()

        page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
        page.reload()
        page.wait_for_selector(CHAT_BOX, timeout=30_000)
        page.get_by_text("In Paris it is 21 degrees").first.wait_for(timeout=30_000)
        restored = page.locator(MESSAGE)
        assert restored.count() == 2
        assert "What's the weather in Paris?" in restored.nth(0).inner_text()
        assert "get_weather" in restored.nth(1).inner_text()
