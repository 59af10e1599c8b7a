"""Downloads, exports and images in the real app reach only the session that shows them: images
travel inside the page (no URL), a download's URL answers once, to the browser that clicked, and a
plain HTTP client replaying it gets nothing (the frontend's own two fetches, a check and the
download, are all it answers). An image output that isn't an image is a placeholder."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image
from playwright.sync_api import Page

from app.store import Store
from models.messages import Attachment, Message
from tests.e2e import CHAT_BOX, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
CSV = b"x,y\n1,2\n"


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _conversation(data: Path) -> str:
    with Store(data) as store:
        cid = store.create_conversation("local", "chat")
        (store.conversation_workdir("local", cid) / "result.csv").write_bytes(CSV)
        outputs = [
            Attachment("image", "plot.png", "image/png", data=_png()),
            Attachment("image", "broken.png", "image/png", data=b"these bytes are labelled image/png"),
            Attachment("file", "drawing.svg", "image/svg+xml", data=SVG),
            Attachment("file", "result.csv", "text/csv", path="result.csv"),
        ]
        store.append_turn(
            "local",
            cid,
            [
                Message("user", "plot it"),
                Message("assistant", "plot()", "python", "c1"),
                Message("observation", "[image: PNG]", tool_call_id="c1", attachments=outputs),
                Message("assistant", "Here it is."),
            ],
        )
    return cid


def _download(page: Page, button: str, where: str = "stMainBlockContainer") -> bytes:
    with page.expect_download(timeout=30_000) as download:
        page.get_by_test_id(where).get_by_role("button", name=button).last.click()  # under the answer
    return Path(download.value.path()).read_bytes()


def test_downloads_answer_once_and_images_have_no_url(tmp_path: Path) -> None:
    cid = _conversation(tmp_path / "data")
    with ScriptedServer([Rule("\nok")]) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_DATA_DIR": str(tmp_path / "data"),
        }
        with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
            page = browser.new_page(accept_downloads=True)
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{app.url}/?c={cid}")
            page.get_by_text("Here it is.").wait_for(timeout=30_000)
            page.wait_for_timeout(2000)  # the first runs settle (the model loads), then the step is opened
            page.locator("[data-testid=stChatMessage] summary", has_text="python").first.click()
            plot = page.locator('img[alt="plot.png"]').first  # in the step and under the answer
            plot.wait_for(state="attached", timeout=30_000)
            assert plot.get_attribute("src").startswith("data:image/png;base64,")
            assert plot.evaluate("img => img.naturalWidth") == 40
            page.get_by_text("broken.png can't be shown").first.wait_for(state="attached", timeout=30_000)
            page.wait_for_selector(CHAT_BOX, timeout=30_000)  # the rest of the page still renders

            assert _download(page, "result.csv") == CSV
            assert _download(page, "drawing.svg") == SVG
            page.get_by_text("This conversation").click()
            exported = _download(page, "Markdown", "stSidebarUserContent").decode()
            assert "plot it" in exported and "Here it is." in exported

            media = {url for url in requested if urlsplit(url).path.startswith("/media/")}
            assert len(media) == 3, requested
            assert not re.search(r"/media/[0-9a-f]{20}", page.content()), "no image or file URL in the page"
            for url in media:
                answer = httpx.get(url, timeout=10)  # a client with no session, replaying the URL
                assert answer.status_code == 404, (url, answer.status_code)
            assert _download(page, "result.csv") == CSV, "a new click gets a new, one-time URL"
