"""The real app in headless Chromium on a GLM-4.6 in completions mode: reasoning apart from the
answer, two tool calls of one step, kept through a reload, in English and Chinese."""

from pathlib import Path

from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_agent_glm45 import ANSWER, TWO_CALLS
from tests.test_app_chat import PLUGIN

EXPANDER = "[data-testid=stExpander] summary"


def assistant_parts(page, thinking: str) -> tuple[int, int, str]:
    """Thinking boxes, get_weather steps and the text of the assistant's bubble."""
    bubble = page.locator(MESSAGE).nth(1)
    boxes = bubble.locator(EXPANDER, has_text=thinking).count()
    steps = bubble.locator("[data-testid=stExpander] summary", has_text="get_weather").count()
    return boxes, steps, bubble.inner_text()


def test_reasoning_and_parallel_calls_in_the_real_app(tmp_path: Path) -> None:
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [Rule(TWO_CALLS, when="Paris and Rome", delay=0.01), Rule(ANSWER, when="Rome: 21", delay=0.01)]
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_MODE": "completions",
            "GLM_API_BASE": server.base_url,
            "GLM_MODEL": "glm-4.6",
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_TOOLS": str(plugin),
            "GLM_SEARCH_BACKEND": "",
            "GLM_KERNEL_POOL": "0",
        }
        with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
            page = browser.new_page(locale="en-US")
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            page.fill(CHAT_BOX, "Weather in Paris and Rome?")
            page.press(CHAT_BOX, "Enter")
            page.wait_for_function("() => document.body.innerText.includes('both at')", timeout=60_000)
            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            boxes, steps, text = assistant_parts(page, "Thinking")
            assert (boxes, steps) == (2, 2)
            assert text.index("Let me check both.") < text.index("Paris and Rome are both at 21 degrees.")
            assert "<think>" not in text and "<tool_call>" not in text

            page.reload()
            page.wait_for_function("() => document.body.innerText.includes('both at')", timeout=60_000)
            assert assistant_parts(page, "Thinking")[:2] == (2, 2)

            chinese = browser.new_page(locale="zh-CN")
            chinese.goto(page.url)
            chinese.wait_for_function("() => document.body.innerText.includes('both at')", timeout=60_000)
            assert assistant_parts(chinese, "思考过程")[:2] == (2, 2)
            chinese.locator(MESSAGE).nth(1).locator(EXPANDER, has_text="思考过程").first.click()
            chinese.get_by_text("Two cities: one call each.").wait_for(timeout=10_000)
            chinese.screenshot(path=str(tmp_path / "glm45-zh.png"), full_page=True)
