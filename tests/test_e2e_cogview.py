"""All Tools in the real app and Chromium, with a scripted GLM-4 that calls `cogview` and the tiny CogView4
pipeline in-process: the image shows under the answer, survives a reload, and is in the Markdown, JSON
and notebook exports."""

import base64
import json
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from models.tiny_cogview import build_cogview_checkpoint
from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

pytestmark = pytest.mark.timeout(300)
PROMPT = "A white lighthouse on a rocky cliff at dusk, waves breaking below, warm light in the window."
ANSWER = "Here is your lighthouse at dusk."
# The image under the answer (inline, app/ui/images_view.py), not the one inside the (collapsed) tool step.
IMAGE_UNDER_ANSWER = f"{MESSAGE} [data-testid=stHtml] img:not(details img)"


def shown_image_width(page: Page) -> int:
    image = page.locator(IMAGE_UNDER_ANSWER).first
    image.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
        arg=IMAGE_UNDER_ANSWER,
        timeout=30_000,
    )
    return image.evaluate("(i) => i.naturalWidth")


def download(page: Page, label: str) -> bytes:
    with page.expect_download(timeout=30_000) as done:
        page.locator("[data-testid=stSidebar] [data-testid=stDownloadButton] button").filter(
            has_text=label
        ).click()
    return Path(done.value.path()).read_bytes()


def test_a_drawn_image_shows_under_the_answer_survives_reload_and_is_exported(tmp_path: Path) -> None:
    pipeline = build_cogview_checkpoint(tmp_path / "tiny-cogview")
    rules = [Rule(f"cogview\n{PROMPT}", when="Draw a lighthouse"), Rule(f"\n{ANSWER}", when="Generated one")]
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_KERNEL_POOL": "0",
            "GLM_IMAGE_MODEL": str(pipeline),
            "GLM_IMAGE_SIZE": "128x96",
            "GLM_IMAGE_STEPS": "4",
            "OMP_NUM_THREADS": "1",
        }
        with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=120_000)  # a first run imports torch: slow under load
            page.fill(CHAT_BOX, "Draw a lighthouse at dusk")
            page.press(CHAT_BOX, "Enter")
            page.get_by_text(ANSWER).first.wait_for(timeout=120_000)
            assert shown_image_width(page) == 128
            assert page.locator(IMAGE_UNDER_ANSWER).count() == 1
            page.screenshot(path=str(tmp_path / "cogview-chat.png"), full_page=True)

            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            page.reload()
            page.get_by_text(ANSWER).first.wait_for(timeout=60_000)
            assert shown_image_width(page) == 128, "the image is gone after a reload"

            kept = download(page, "cogview-1.png")  # the Files list of the conversation's folder
            page.get_by_text("This conversation").click()
            markdown = download(page, "Markdown").decode()
            exported = json.loads(download(page, "JSON"))
            notebook = nbformat.reads(download(page, "Notebook").decode(), as_version=4)

    observation = exported["turns"][0][2]
    assert observation["role"] == "observation" and observation["info"]["image"]["file"] == "cogview-1.png"
    png = base64.b64decode(observation["attachments"][0]["data"])
    assert png.startswith(b"\x89PNG")
    assert f"![cogview-1.png](data:image/png;base64,{base64.b64encode(png).decode()})" in markdown
    (cell,) = notebook.cells
    assert cell.cell_type == "markdown" and PROMPT in cell.source
    assert base64.b64decode(cell.attachments["cogview-1.png"]["image/png"]) == png
    assert kept == png, "the conversation's folder keeps the same image"
