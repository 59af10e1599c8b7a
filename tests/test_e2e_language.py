"""The real app in headless Chromium follows the browser's language (Chinese or English) on every
workspace, and the sidebar's switch changes it for the session."""

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e import CHAT_BOX, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

WORKSPACES = {  # path: (English title, Chinese title, Chinese chat box placeholder)
    "": ("All Tools", "全能工具", "向 GLM-4 提问…"),
    "documents": ("Long document", "长文档", "就您的文档提问…"),
    "vision": ("Vision", "视觉理解", "就您的图片提问…"),
}


@pytest.fixture
def app_env(tmp_path: Path):
    with ScriptedServer([Rule("\n你好！", when="")]) as server:
        yield {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_VISION_MODEL": "glm-4-scripted",
            "GLM_DATA_DIR": str(tmp_path / "data"),
        }


def title(page: Page) -> str:
    page.wait_for_selector(CHAT_BOX, timeout=30_000)
    return page.locator("h1").first.inner_text()


def switch(page: Page, language: str) -> None:
    page.locator("[data-testid=stSidebar]").get_by_text(language, exact=True).click()


def test_each_workspace_in_the_browsers_language_and_the_switch(app_env: dict, tmp_path: Path) -> None:
    with chromium() as browser, running_app(app_env, tmp_path / "app.log") as app:
        chinese = browser.new_page(locale="zh-CN")
        for path, (_, zh, placeholder) in WORKSPACES.items():
            chinese.goto(f"{app.url}/{path}")
            assert title(chinese) == zh
            assert chinese.locator(CHAT_BOX).get_attribute("placeholder") == placeholder
            nav = chinese.locator("[data-testid=stSidebarNav]").inner_text()
            assert "长文档" in nav and "Long document" not in nav
            chinese.screenshot(path=str(tmp_path / f"zh-{path or 'chat'}.png"), full_page=True)

        switch(chinese, "English")
        chinese.get_by_role("heading", name="Vision").wait_for(timeout=30_000)
        chinese.locator("[data-testid=stSidebarNav]").get_by_text("All Tools").click()
        chinese.get_by_role("heading", name="All Tools").wait_for(timeout=30_000)

        english = browser.new_page(locale="en-US")
        for path, (en, _, _) in WORKSPACES.items():
            english.goto(f"{app.url}/{path}")
            assert title(english) == en
            english.screenshot(path=str(tmp_path / f"en-{path or 'chat'}.png"), full_page=True)
        switch(english, "中文")
        english.get_by_role("heading", name="视觉理解").wait_for(timeout=30_000)


def test_server_errors_in_the_browsers_language_and_after_the_switch(tmp_path: Path) -> None:
    """A question the server refuses as too long and an answer whose connection breaks off read in
    Chinese in a Chinese browser, and in English once the sidebar switches (the stored turns again)."""
    rules = [Rule("\nLighthouses guide ships along dark coasts.", when="灯塔", cut_after=2)]
    with ScriptedServer(rules, max_model_len=200) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_MAX_CONTEXT": "100000",
            "GLM_DATA_DIR": str(tmp_path / "data"),
        }
        with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
            page.goto(f"{app.url}/")
            page.wait_for_selector(CHAT_BOX, timeout=30_000)
            for question in ("讲讲灯塔", "长 " * 300):
                page.fill(CHAT_BOX, question)
                page.press(CHAT_BOX, "Enter")
            page.get_by_text("与模型服务器的连接中断了").first.wait_for(timeout=60_000)
            page.get_by_text("超出了模型的上下文长度").first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "zh-errors.png"), full_page=True)
            switch(page, "English")
            page.get_by_text("The connection to the model server was lost").first.wait_for(timeout=30_000)
            page.get_by_text("longer than the model's context").first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "en-errors.png"), full_page=True)
            shown = page.locator("[data-testid=stChatMessage]").all_inner_texts()
    assert not any("超出了模型的上下文长度" in text or "连接中断" in text for text in shown)
