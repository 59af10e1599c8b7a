"""The real app in headless Chromium: a streamed answer, a tool step, and a reload and a restart that
keep them."""

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e import CHAT_BOX, MESSAGE, MESSAGE_TEXT, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import PLUGIN

ANSWER = "In Paris it is 21 degrees and sunny, " + "a fine day for a walk along the river " * 6


@pytest.fixture
def app_env(tmp_path: Path):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [
        Rule('get_weather\n{"city": "Paris"}', when="weather"),
        Rule("\n" + ANSWER, when="21 degrees", delay=0.05),
    ]
    with ScriptedServer(rules) as server:
        yield {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_TOOLS": str(plugin),
        }


def conversation_shown(page: Page) -> list[str]:
    page.wait_for_selector(CHAT_BOX, timeout=30_000)
    page.get_by_text("In Paris it is 21 degrees").first.wait_for(timeout=30_000)
    return [page.locator(MESSAGE).nth(i).inner_text() for i in range(page.locator(MESSAGE).count())]


def test_streamed_answer_with_a_tool_step_survives_reload_and_restart(app_env: dict, tmp_path: Path) -> None:
    with chromium() as browser:
        page = browser.new_page()
        with running_app(app_env, tmp_path / "app.log") as app:
            page.goto(app.url)
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
            partial = [t for t in seen if "In Paris" in t and t.count("along the river") < 6]
            assert partial, f"the answer should appear piece by piece, saw {seen[:3]}"
            page.wait_for_function(
                "() => document.body.innerText.split('along the river').length - 1 >= 6", timeout=30_000
            )
            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            url = page.url
            page.screenshot(path=str(tmp_path / "chat.png"))

            page.reload()
            after_reload = conversation_shown(page)
            assert len(after_reload) == 2
            assert "What's the weather in Paris?" in after_reload[0]
            assert "get_weather" in after_reload[1] and "a walk along the river" in after_reload[1]

        with running_app(app_env, tmp_path / "app-restarted.log") as restarted:
            query = url.split("?", 1)[1]
            page.goto(f"{restarted.url}/?{query}")
            assert conversation_shown(page) == after_reload
