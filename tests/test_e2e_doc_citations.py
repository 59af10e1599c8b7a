"""Citations and uploads while an answer streams, in the real app in Chromium with a scripted model over
real HTTP: a document citation is a link while the answer streams and opens the source viewer at the cited
page; a DOCX without pages is counted in parts and sent as the "whole file"; a file uploaded on Documents or
Vision while an answer streams doesn't stop it and is read afterwards; on All Tools the uploader is disabled
while an answer streams, and a browser citation is a link before the answer ends.

`fixtures/harbour-minutes.docx` was made by LibreOffice 7.4 (`soffice --headless --convert-to docx` of a
four-line text file): a one-page DOCX that records no page breaks, as Word and LibreOffice save short files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.store import Store
from tests.e2e import CHAT_BOX, MESSAGE_TEXT, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_browsing import Web

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PDF = FIXTURES / "corpus" / "docs" / "lo-writer-latin.pdf"  # LibreOffice Writer, 3 pages
DOCX = FIXTURES / "harbour-minutes.docx"
MORE = " The council will publish the full results next week." * 40
UPLOADER = "[data-testid=stFileUploader] input[type=file]"
STOP = "[data-testid=stButton] button:has-text('Stop')"


def _env(server: ScriptedServer, data: Path, **more: str) -> dict[str, str]:
    return {"GLM_BACKEND": "openai", "GLM_API_BASE": server.base_url, "GLM_DATA_DIR": str(data), **more}


def _ask(page: Page, text: str) -> None:
    page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=60_000)
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


def _turns(data: Path, workspace: str, count: int, timeout_s: float = 60) -> list:
    """The conversation's turns once `count` of them are stored and finished."""
    deadline = threading.Event()
    for _ in range(int(timeout_s * 4)):
        with Store(data) as store:
            (summary,) = store.list_conversations("local", workspace)
            turns = store.load_conversation("local", summary.id).turns
        if len(turns) >= count and all(t[-1].role == "assistant" and "timings" in t[-1].info for t in turns):
            return turns
        deadline.wait(0.25)
    raise AssertionError(f"{count} finished turns not stored: {turns}")


def _upload(page: Page, path: Path, at: str = UPLOADER) -> None:
    page.locator(at).first.set_input_files(str(path))


@contextmanager
def documents_with_the_pdf(tmp_path: Path, rules: list[Rule]) -> Iterator[Page]:
    """The Documents page of a fresh app answering by `rules`, with the 3-page PDF uploaded and listed."""
    with (
        ScriptedServer(rules) as server,
        running_app(_env(server, tmp_path / "data"), tmp_path / "app.log") as app,
        chromium() as browser,
    ):
        page = browser.new_page()
        page.goto(f"{app.url}/documents")
        page.wait_for_selector(CHAT_BOX, timeout=60_000)
        _upload(page, PDF)
        page.get_by_text("PDF · 3 pages").first.wait_for(timeout=60_000)
        yield page


def test_a_citation_is_a_link_while_streaming_and_opens_the_viewer_at_its_page(tmp_path: Path) -> None:
    data = tmp_path / "data"
    answer = "\nThe bridge vote is reported on [lo-writer-latin.pdf, p. 2]; see also [other.pdf, p. 1]."
    rules = [Rule(answer + MORE, when="bridge", delay=0.03)]
    with documents_with_the_pdf(tmp_path, rules) as page:
        _ask(page, "Where is the bridge vote reported?")
        link = page.locator(f"{MESSAGE_TEXT} a", has_text="[lo-writer-latin.pdf, p. 2]")
        link.first.wait_for(timeout=60_000)
        assert page.locator(STOP).count() == 1, "the link is there while the answer still streams"
        assert page.locator(f"{MESSAGE_TEXT} a", has_text="other.pdf").count() == 0, "not a file here"
        with page.context.expect_page() as opened:
            link.first.click()  # a new tab: the answer here goes on
        viewer = opened.value
        dialog = viewer.locator("[role=dialog]")
        dialog.get_by_text("Die Bürgerinnen und Bürger der Stadt Görlitz").wait_for(timeout=60_000)
        picker = dialog.locator("[data-testid=stSelectbox]")
        picker.wait_for(timeout=30_000)
        chosen = picker.evaluate("e => [...e.querySelectorAll('input')].map(i => i.value) + e.textContent")
        assert "p. 2" in chosen and "lo-writer-latin.pdf" in dialog.inner_text()
        assert "Kléber" not in dialog.inner_text(), "page 2, not page 1"
        image = dialog.locator('img[alt="p. 2"]')  # the PDF's page as it looks
        image.wait_for(state="attached", timeout=30_000)
        assert image.evaluate("img => img.naturalWidth > img.naturalHeight / 2")
        assert "source=" not in viewer.url, "the address forgets the request once it is shown"
        (turn,) = _turns(data, "documents", 1)
        page.get_by_text("full results next week").first.wait_for(timeout=30_000)
        assert page.locator(f"{MESSAGE_TEXT} a", has_text="[lo-writer-latin.pdf, p. 2]").count() == 1
    assert not turn[-1].info.get("stopped") and turn[-1].content.endswith("next week.")


def test_documents_upload_while_streaming_keeps_the_answer_and_a_docx_is_counted_in_parts(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    rules = [
        Rule("\nThe vote is on p. 2." + MORE, when="bridge", delay=0.03),
        Rule("\nThe harbour master reported 417 ships [harbour-minutes.docx, part 1].", when="ships"),
    ]
    with documents_with_the_pdf(tmp_path, rules) as page:
        _ask(page, "Where is the bridge vote reported?")
        page.get_by_text("The vote is on p. 2.").first.wait_for(timeout=60_000)
        _upload(page, DOCX)  # while the answer streams
        assert page.locator(STOP).count() == 1, "still streaming when the file was picked"
        (first,) = _turns(data, "documents", 1)
        page.get_by_text("DOCX · 1 part").first.wait_for(timeout=60_000)
        _ask(page, "How many ships were reported?")
        _turns(data, "documents", 2)
        page.get_by_text("417 ships").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        expanders = page.locator("[data-testid=stExpander] summary").all_inner_texts()
        body = page.locator("[data-testid=stMainBlockContainer]").inner_text()
    assert not first[-1].info.get("stopped") and first[-1].content.endswith("next week.")
    assert any(e.endswith("harbour-minutes.docx · whole file") for e in expanders), expanders
    assert "harbour-minutes.docx · whole file (" not in body and "part 1)" not in body


def test_vision_pdf_upload_while_streaming_keeps_the_answer(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rules = [Rule("\nA quiet harbour at dawn." + MORE, delay=0.03)]
    with ScriptedServer(rules) as server:
        env = _env(server, data, GLM_VISION_MODEL="glm-4v-scripted")
        with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
            page = browser.new_page()
            page.goto(f"{app.url}/vision")
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            page.get_by_text("Ask about a PDF page").first.click()
            _ask(page, "Describe the harbour.")
            page.get_by_text("A quiet harbour at dawn.").first.wait_for(timeout=60_000)
            _upload(page, PDF, f"[data-testid=stSidebar] {UPLOADER}")  # while the answer streams
            assert page.locator(STOP).count() == 1
            (turn,) = _turns(data, "vision", 1)
            read = page.get_by_text("Page (of 3)").first  # the PDF was read after the answer
            read.wait_for(state="attached", timeout=60_000)
    assert not turn[-1].info.get("stopped") and turn[-1].content.endswith("next week.")


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_all_tools_browser_citation_is_a_link_before_the_answer_ends_and_uploads_wait(
    web: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rules = [
        Rule('simple_browser\nsearch("GLM-5 release")', when="When was"),
        Rule("\nGLM-5 came out on 3 March【0†launch notes】." + MORE, when="GLM-5 launch notes", delay=0.03),
    ]
    with ScriptedServer(rules) as server:
        env = _env(
            server,
            data,
            GLM_SEARCH_BACKEND="searxng",
            GLM_SEARXNG_URL=f"http://{web}",
            GLM_BROWSER_ALLOW=web,
        )
        with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
            page = browser.new_page()
            page.goto(app.url)
            _ask(page, "When was GLM-5 released?")
            link = page.locator(f"{MESSAGE_TEXT} a", has_text="GLM-5 launch notes")
            link.first.wait_for(timeout=90_000)
            assert page.locator(STOP).count() == 1, "a link while the answer still streams"
            assert "【0†" not in page.locator(MESSAGE_TEXT).last.inner_text()
            uploader = page.locator(f"[data-testid=stSidebar] {UPLOADER}").first
            assert uploader.is_disabled(), "no upload while the answer streams"
            (turn,) = _turns(data, "chat", 1, timeout_s=90)
            enabled = f"[data-testid=stSidebar] {UPLOADER}:not([disabled])"
            page.wait_for_selector(enabled, state="attached", timeout=30_000)
    assert turn[-1].content.endswith("next week.") and not turn[-1].info.get("stopped")
