"""The real app in headless Chromium, in both languages: every workspace follows the browser's language
(Chinese or English) and the sidebar's switch; each names its model in its empty state; the file
uploaders say their button and the enforced limit (`GLM_MAX_UPLOAD_MB`) in the page's language; the
Models page says which variables the environment sets and tests the server. Then one conversation in
each workspace: listed under Today above Yesterday and Earlier with the open one highlighted, the
Documents title from the file and then the first question, "1 page", and speed in tokens/s everywhere."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest
from playwright.sync_api import Browser, Page

from app.store import Store
from models.messages import Message
from tests.e2e import CHAT_BOX, MESSAGE, RunningApp, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_vision_page import png

WORKSPACES = {  # path: (English title, Chinese title, Chinese chat box placeholder)
    "": ("All Tools", "全能工具", "向 GLM-4 提问…"),
    "documents": ("Long document", "长文档", "就您的文档提问…"),
    "vision": ("Vision", "视觉理解", "就您的图片提问…"),
}
STORED = {"": "chat", "documents": "documents", "vision": "vision"}
MODEL = "glm-4-scripted"
LIMIT_MB = 7
SIDEBAR = "[data-testid=stSidebar]"
# Seeded before the app starts: (title, days since it last changed).
OLDER = [("Plans from last week", 3), ("Notes from yesterday", 1)]
RULES = [
    Rule("\nThe launch code is ZEBRA-7781 [report.pdf, p. 1].", when="launch code"),
    Rule("\nHello from the scripted model, " + "with a few more words " * 4, when=""),
]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Browser]]:
    """One app (and browser) for the module, its store seeded with older conversations in each workspace."""
    root = tmp_path_factory.mktemp("language")
    data = root / "data"
    with Store(data) as store:
        for workspace in STORED.values():
            for title, _ in OLDER:
                cid = store.create_conversation("local", workspace, title)
                store.append_turn("local", cid, [Message("user", title), Message("assistant", "Noted.")])
    db = sqlite3.connect(data / "studio.db")
    with db:
        for title, days in OLDER:
            db.execute(
                "UPDATE conversations SET updated = ? WHERE title = ?", (time.time() - days * 86400, title)
            )
    db.close()
    with ScriptedServer(RULES) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_VISION_MODEL": MODEL,
            "GLM_DATA_DIR": str(data),
            "GLM_MAX_UPLOAD_MB": str(LIMIT_MB),
            "GLM_SEARCH_BACKEND": "",
        }
        with running_app(env, root / "app.log") as app, chromium() as browser:
            yield app, browser


def title(page: Page) -> str:
    page.wait_for_selector(CHAT_BOX, timeout=90_000)  # a fresh app's first page on a busy machine
    return page.locator("h1").first.inner_text()


def switch(page: Page, language: str) -> None:
    page.locator(SIDEBAR).get_by_text(language, exact=True).click()


def uploader_words(page: Page, key: str) -> tuple[str, str, str]:
    """What an uploader's button and limit say as drawn (Streamlit's own words hidden, ours shown),
    and the font size left to Streamlit's limit text."""
    scope = f".st-key-{key} [data-testid=stFileUploaderDropzone]"
    page.wait_for_function(
        "(s) => getComputedStyle(document.querySelector(s + ' button [data-testid=stMarkdownContainer]'),"
        " '::after').content !== 'none'",
        arg=scope,
        timeout=30_000,
    )
    return page.evaluate(
        """(s) => {
            const button = document.querySelector(s + ' button [data-testid=stMarkdownContainer]');
            const limit = document.querySelector(
                s + ' [data-testid=stFileUploaderDropzoneInstructions] span');
            return [getComputedStyle(button, '::after').content, getComputedStyle(limit, '::after').content,
                    getComputedStyle(limit).fontSize];
        }""",
        scope,
    )


def documents_uploader_key(page: Page) -> str:
    return page.locator('[class*="st-key-documents-upload-"]').first.evaluate(
        "e => [...e.classList].find(c => c.startsWith('st-key-')).slice('st-key-'.length)"
    )


def test_each_workspace_in_the_browsers_language_and_the_switch(studio) -> None:
    app, browser = studio
    chinese = browser.new_page(locale="zh-CN")
    for path, (_, zh, placeholder) in WORKSPACES.items():
        chinese.goto(f"{app.url}/{path}")
        assert title(chinese) == zh
        assert chinese.locator(CHAT_BOX).get_attribute("placeholder") == placeholder
        nav = chinese.locator("[data-testid=stSidebarNav]").inner_text()
        assert "长文档" in nav and "Long document" not in nav
        chinese.get_by_text(f"{MODEL} 已就绪").wait_for(timeout=30_000)  # the empty state names the model
    chinese.goto(f"{app.url}/documents")
    title(chinese)
    assert uploader_words(chinese, documents_uploader_key(chinese)) == [
        '"上传"',
        f'"每个文件最大 {LIMIT_MB} MB"',
        "0px",
    ]

    switch(chinese, "English")
    chinese.get_by_role("heading", name="Long document").wait_for(timeout=30_000)
    chinese.get_by_text(f"{MODEL} is ready").wait_for(timeout=30_000)
    assert uploader_words(chinese, documents_uploader_key(chinese))[:2] == [
        '"Upload"',
        f'"Up to {LIMIT_MB} MB per file"',
    ]
    chinese.locator("[data-testid=stSidebarNav]").get_by_text("All Tools").click()
    chinese.get_by_role("heading", name="All Tools").wait_for(timeout=30_000)

    english = browser.new_page(locale="en-US")
    for path, (en, _, _) in WORKSPACES.items():
        english.goto(f"{app.url}/{path}")
        assert title(english) == en
        english.get_by_text(f"{MODEL} is ready").wait_for(timeout=30_000)
    english.locator(SIDEBAR).get_by_text("Ask about a PDF page").click()
    assert uploader_words(english, "vision-pdf")[:2] == ['"Upload"', f'"Up to {LIMIT_MB} MB per file · PDF"']
    switch(english, "中文")
    english.get_by_role("heading", name="视觉理解").wait_for(timeout=30_000)
    english.locator(SIDEBAR).get_by_text("就 PDF 的某一页提问").click()
    assert uploader_words(english, "vision-pdf")[:2] == ['"上传"', f'"每个文件最大 {LIMIT_MB} MB · PDF"']

    chinese.goto(f"{app.url}/models")  # a new session: the browser's language again
    chinese.get_by_role("heading", name="模型设置").wait_for(timeout=60_000)
    chinese.get_by_text("以下变量已在环境中设置").first.wait_for(timeout=30_000)
    chinese.get_by_role("button", name="测试连接").first.click()
    chinese.get_by_text("连接成功：服务器提供 1 个模型。").wait_for(timeout=30_000)


def listed(page: Page) -> list[tuple[str, str]]:
    """The sidebar's conversation list as drawn: ("group", caption) and ("open"/"other", title) in order;
    "open" is a highlighted entry (a background of its own where the others have none)."""
    drawn = page.evaluate(
        """() => {
            const groups = ['Today', 'Yesterday', 'Earlier', '今天', '昨天', '更早'];
            const sidebar = document.querySelector('[data-testid=stSidebar]');
            const items = sidebar.querySelectorAll(
                '[data-testid=stCaptionContainer], [class*="-open-"] button');
            return [...items].flatMap(e => {
                const text = e.innerText.trim();
                if (e.tagName !== 'BUTTON') return groups.includes(text) ? [['group', text]] : [];
                const plain = getComputedStyle(e).backgroundColor === 'rgba(0, 0, 0, 0)';
                return [[plain ? 'other' : 'open', text.replace(/^\\S*chat\\s*/, '')]];
            });
        }"""
    )
    return [(kind, text) for kind, text in drawn]


def wait_listed_first(page: Page, wanted: str) -> list[tuple[str, str]]:
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('[data-testid=stSidebar] [class*=\"-open-\"] button')]"
        ".some(b => b.innerText.includes(t))",
        arg=wanted,
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    return listed(page)


def ask(page: Page, text: str) -> None:
    page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=60_000)
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


def one_page_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "The launch code is ZEBRA-7781.")
    return doc.tobytes()


def test_a_conversation_in_each_workspace_listed_by_date_with_its_speed(studio, tmp_path: Path) -> None:
    app, browser = studio
    page = browser.new_page(locale="en-US")
    page.goto(app.url)
    ask(page, "Say hello")
    answer = page.locator(MESSAGE).nth(1)
    answer.get_by_text("tokens/s").wait_for(timeout=60_000)
    assert wait_listed_first(page, "Say hello") == [
        ("group", "Today"),
        ("open", "Say hello"),
        ("group", "Yesterday"),
        ("other", "Notes from yesterday"),
        ("group", "Earlier"),
        ("other", "Plans from last week"),
    ]

    page.goto(f"{app.url}/documents")
    title(page)
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(
        {"name": "report.pdf", "mimeType": "application/pdf", "buffer": one_page_pdf()}
    )
    page.get_by_text("report.pdf · PDF · 1 page").first.wait_for(timeout=60_000)
    assert ("open", "report.pdf") in wait_listed_first(page, "report.pdf"), "titled after its file"
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(
        [
            {"name": "report.pdf", "mimeType": "application/pdf", "buffer": one_page_pdf()},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Lot B is closed on Sundays.\n"},
        ]
    )
    page.get_by_text("notes.txt · Text · 1 section").first.wait_for(timeout=60_000)
    ask(page, "What is the launch code?")
    answer = page.locator(MESSAGE).nth(1)
    answer.get_by_text("tokens/s").wait_for(timeout=60_000)
    assert "ZEBRA-7781" in answer.inner_text()
    answer.get_by_text("report.pdf · whole file (1 page)").wait_for(timeout=30_000)
    answer.get_by_text("notes.txt · whole file", exact=True).wait_for(timeout=30_000)
    shown = wait_listed_first(page, "What is the launch code?")
    assert shown[:2] == [("group", "Today"), ("open", "What is the launch code?")], "then after its question"

    picture = tmp_path / "red.png"
    picture.write_bytes(png((220, 30, 30), (60, 40)))
    page.goto(f"{app.url}/vision")
    switch(page, "中文")
    page.get_by_role("heading", name="视觉理解").wait_for(timeout=30_000)
    with page.expect_file_chooser() as chooser:
        page.locator("[data-testid=stChatInputFileUploadButton]").click()
    chooser.value.set_files(str(picture))
    page.get_by_text("red.png").first.wait_for(timeout=30_000)
    ask(page, "这是什么颜色？")
    answer = page.locator(MESSAGE).nth(1)
    answer.get_by_text("token/秒").wait_for(timeout=60_000)
    assert "Hello from the scripted model" in answer.inner_text() and "chunks" not in answer.inner_text()
    assert wait_listed_first(page, "这是什么颜色？") == [
        ("group", "今天"),
        ("open", "这是什么颜色？"),
        ("group", "昨天"),
        ("other", "Notes from yesterday"),
        ("group", "更早"),
        ("other", "Plans from last week"),
    ]


def test_server_errors_in_the_browsers_language_and_after_the_switch(studio, tmp_path: Path) -> None:
    """A question the server refuses as too long and an answer whose connection breaks off read in
    Chinese in a Chinese browser, and in English once the sidebar switches (the stored turns again).
    An app of its own (its server refuses long prompts and cuts answers), the module's browser."""
    _, browser = studio
    rules = [Rule("\nLighthouses guide ships along dark coasts.", when="灯塔", cut_after=2)]
    with ScriptedServer(rules, max_model_len=200) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_MAX_CONTEXT": "100000",
            "GLM_DATA_DIR": str(tmp_path / "data"),
        }
        with running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
            page.goto(f"{app.url}/")
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            for question, error in (
                ("讲讲灯塔", "与模型服务器的连接中断了"),
                ("长 " * 300, "超出了模型的上下文长度"),
            ):
                page.fill(CHAT_BOX, question)
                page.press(CHAT_BOX, "Enter")
                page.get_by_text(error).first.wait_for(timeout=90_000)
            page.screenshot(path=str(tmp_path / "zh-errors.png"), full_page=True)
            switch(page, "English")
            page.get_by_text("The connection to the model server was lost").first.wait_for(timeout=60_000)
            page.get_by_text("longer than the model's context").first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "en-errors.png"), full_page=True)
            shown = page.locator("[data-testid=stChatMessage]").all_inner_texts()
            page.close()
    assert not any("超出了模型的上下文长度" in text or "连接中断" in text for text in shown)


def over_limit(name: str, mime: str) -> dict:
    """A file one byte over the limit."""
    return {"name": name, "mimeType": mime, "buffer": b"x" * (LIMIT_MB * 2**20 + 1)}


def refused(page: Page, uploader: str, upload: dict, said: str) -> None:
    """`upload` picked in `uploader` is refused with a message stating the limit, and the chat box stays."""
    page.locator(f"{uploader} input[type=file]").first.set_input_files(upload)
    page.locator(uploader).get_by_text(said).first.wait_for(timeout=30_000)
    page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=30_000)


def test_a_file_over_the_upload_limit_is_refused_by_every_picker(studio, tmp_path_factory) -> None:
    """Streamlit refuses it in the browser (each uploader gets `max_upload_size`), so it is never sent:
    its own chip says the limit, in English in both languages (Streamlit has no translations)."""
    app, browser = studio
    data = next(tmp_path_factory.getbasetemp().glob("language*/data"))
    said = f"File must be {LIMIT_MB}.0MB or smaller."
    page = browser.new_page(locale="en-US")

    page.goto(f"{app.url}/documents")
    title(page)
    refused(page, f".st-key-{documents_uploader_key(page)}", over_limit("big.txt", "text/plain"), said)
    page.wait_for_timeout(1000)
    assert page.get_by_text("big.txt · ").count() == 0, "no document listed"

    page.goto(app.url)
    title(page)
    refused(page, ".st-key-chat-uploads", over_limit("big.txt", "text/plain"), said)
    small = {"name": "small.txt", "mimeType": "text/plain", "buffer": b"under the limit\n"}
    page.locator(".st-key-chat-uploads input[type=file]").set_input_files([small])
    page.locator(f"{SIDEBAR} [data-testid=stDownloadButton]").filter(has_text="small.txt").wait_for(
        timeout=30_000
    )
    assert page.locator(f"{SIDEBAR} [data-testid=stDownloadButton]").filter(has_text="big.txt").count() == 0
    assert [p.read_bytes() for p in data.rglob("small.txt")] == [b"under the limit\n"]

    page.goto(f"{app.url}/vision")
    title(page)
    refused(page, "[data-testid=stChatInput]", over_limit("big.png", "image/png"), said)
    page.locator(SIDEBAR).get_by_text("Ask about a PDF page").click()
    refused(page, ".st-key-vision-pdf", over_limit("big.pdf", "application/pdf"), said)

    chinese = browser.new_page(locale="zh-CN")
    chinese.goto(f"{app.url}/documents")
    assert title(chinese) == "长文档"
    refused(chinese, f".st-key-{documents_uploader_key(chinese)}", over_limit("big.txt", "text/plain"), said)
    assert list(data.rglob("big.*")) == [], "nothing refused was stored"
