"""The same hostile strings through every place the app shows text it did not write, in the real app in
Chromium: a question (and so the conversation's title in the sidebar), a model's answer, a tool name
chosen by the model in a call cut off at max tokens (the turn's error, kept and shown again on reload),
a file name and the sources labelled with it on the Long document page. Every request the page makes is
recorded (Playwright); none may leave for the hostile URLs, and no link may have a scheme other than
http(s)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

MARK = "hostile"


class Trap:
    """An HTTP server on 127.0.0.1 that counts every request: anything the page loads from it is a leak."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def hostile(trap: Trap, where: str) -> str:
    """Images (inline, reference, HTML), and links to data:, file: and javascript: in one string."""
    url = f"http://127.0.0.1:{trap.port}/{MARK}-{where}"
    return (
        f"![t]({url}) ![r][{where}] [x](data:text/html;base64,{MARK}) [y](file:///etc/{MARK}) "
        f"<javascript:{MARK}()> [z](java&#115;cript:{MARK}) <img src='{url}-html'> "
        f"[{where}]: {url}-ref"
    )


@pytest.fixture
def trap():
    server = Trap()
    yield server
    server.server.shutdown()


def page_links(page: Page) -> list[str]:
    return page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")


def page_images(page: Page) -> list[str]:
    return page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src') || '')")


def settle(page: Page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def assert_nothing_leaked(page: Page, requests: list[str], trap: Trap) -> None:
    assert [u for u in requests if MARK in u] == []
    assert trap.hits == []
    assert [s for s in page_images(page) if MARK in s] == []
    bad = [h for h in page_links(page) if h.split(":", 1)[0].lower() not in ("http", "https") and ":" in h]
    assert bad == [], "links other than http(s)"


def test_hostile_text_in_every_place_loads_nothing(tmp_path: Path, trap: Trap) -> None:
    question = "Tell me " + hostile(trap, "question")
    answer = "Here you go: " + hostile(trap, "answer")
    tool_name = f"![t](http://127.0.0.1:{trap.port}/{MARK}-tool) [x](data:text/html,{MARK})"
    rules = [
        Rule("\n" + answer, when="Tell me"),
        Rule(tool_name + '\n{"q": "' + "word " * 1200, when="second question"),
        Rule("\nThe file says: " + hostile(trap, "docs")),
    ]
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_API_MODE": "chat",  # the scripted call arrives as the server's tool call
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_KERNEL_SANDBOX": "off",
            "GLM_KERNEL_POOL": "0",
        }
        with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=60_000)

            page.fill(CHAT_BOX, question)
            page.press(CHAT_BOX, "Enter")
            settle(page, "Here you go")
            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            page.fill(CHAT_BOX, "A second question")
            page.press(CHAT_BOX, "Enter")
            settle(page, "was cut off")
            page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
            sidebar = page.locator("[data-testid=stSidebar]").inner_text()
            assert "Tell me ![t](http://127.0.0.1" in sidebar, "the title is shown as the text it is"
            assert_nothing_leaked(page, requests, trap)

            page.reload()  # the stored error and title shown again
            page.wait_for_selector(MESSAGE, timeout=60_000)
            settle(page, "was cut off")
            assert_nothing_leaked(page, requests, trap)

            page.goto(f"{app.url}/documents")
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            name = f"![t](http:{MARK}-file.png) [x](data:{MARK}) notes.txt"
            page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(
                {"name": name, "mimeType": "text/plain", "buffer": b"The launch code is ZEBRA-7781.\n"}
            )
            settle(page, "notes.txt")
            page.fill(CHAT_BOX, "What does the file say?")
            page.press(CHAT_BOX, "Enter")
            settle(page, "The file says")
            page.screenshot(path=str(tmp_path / "documents.png"), full_page=True)
            assert "![t](http:" in page.locator("[data-testid=stMain], body").first.inner_text()
            assert_nothing_leaked(page, requests, trap)
