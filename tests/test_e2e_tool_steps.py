"""A running python step in the real app, in Chromium, against a real kernel and a scripted model over
HTTP: it is open, shows the cell's output as the kernel prints it and a ticking clock; Stop keeps what
was printed (on screen, after a reload, and in what the model reads next), and the turn says
"stopped" once. In English and in Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page

from app.store import Store
from app.tools.base import STOPPED_TOOL
from app.turn import INTERRUPTED_TOOL
from tests.e2e import CHAT_BOX, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

pytestmark = pytest.mark.timeout(300)
LINES = 40  # a line every 0.3 s: 12 s, far longer than the test waits before it stops the cell
CODE = f"import time\nfor i in range({LINES}):\n    print('line', i, flush=True)\n    time.sleep(0.3)"
AGAIN = CODE.replace("'line'", "'again'")
INTERRUPTED = "interrupted: the page was reloaded or closed"
MAIN = "[data-testid=stMainBlockContainer]"
STEP = "[data-testid=stExpander]"
WORDS = {  # locale: (live output caption, output caption after the stop, the turn's note, stop button)
    "en-US": ("Output so far", "Output (partial)", "stopped", "Stop"),
    "zh-CN": ("目前的输出", "输出（不完整）", "已停止", "停止"),
}


def _clock(page: Page) -> str:
    return page.locator(MAIN).get_by_text(re.compile(r"(running for|已运行) [\d.]+")).first.inner_text()


def _note(page: Page, note: str) -> Locator:
    """The turn's note under the answer (a caption after its icon)."""
    return page.locator(MAIN).locator("[data-testid=stCaptionContainer]", has_text=note).first


def _times_said(page: Page, note: str) -> int:
    """How often the turn's note appears in the main area ("stopped" as a word, not in "stop_circle")."""
    text = page.locator(MAIN).inner_text()
    return len(re.findall(rf"(?<![\w_]){re.escape(note)}(?![\w_])", text))


def _ask(page: Page, text: str) -> None:
    page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=60_000)
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


@pytest.mark.parametrize("locale", WORDS)
def test_a_running_step_streams_its_output_and_a_stop_keeps_it(locale: str, tmp_path: Path) -> None:
    live, partial, note, stop = WORDS[locale]
    rules = [
        Rule("python\n" + CODE, when="count slowly"),
        Rule("\nI stopped at the user's request.", when="what happened"),
        Rule("python\n" + AGAIN, when="count again"),
    ]
    data = tmp_path / "data"
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_API_MODE": "chat",  # the messages sent after the stop are read below
            "GLM_DATA_DIR": str(data),
            "GLM_KERNEL_POOL": "0",
        }
        with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page(locale=locale, viewport={"width": 1100, "height": 1000})
            page.goto(app.url)
            _ask(page, "count slowly")

            step = page.locator(MAIN).locator(STEP).first
            step.get_by_text("line 1", exact=True).wait_for(timeout=90_000)  # visible: the step is open
            assert step.get_by_text(live).is_visible()
            assert step.get_by_text(f"line {LINES - 1}", exact=True).count() == 0, "the cell still runs"
            first = _clock(page)
            page.wait_for_function(
                "([sel, first]) => !document.querySelector(sel).innerText.includes(first)",
                arg=[MAIN, first],
                timeout=30_000,
            )
            assert _clock(page) != first, "the clock ticks"
            step.get_by_text("line 4", exact=True).wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / f"running-{locale}.png"))

            page.get_by_role("button", name=stop).click()
            _note(page, note).wait_for(timeout=60_000)
            page.locator(MAIN).get_by_text(partial).wait_for(timeout=30_000)
            kept = page.locator(MAIN).locator(STEP).first
            kept.get_by_text("line 3", exact=True).wait_for(timeout=30_000)  # the output so far, at once
            assert _times_said(page, note) == 1
            page.screenshot(path=str(tmp_path / f"stopped-{locale}.png"))

            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            page.reload()
            _note(page, note).wait_for(timeout=60_000)
            kept = page.locator(MAIN).locator(STEP).first
            kept.get_by_text("line 3", exact=True).wait_for(timeout=30_000)  # kept in the store, shown open
            assert kept.get_by_text(f"line {LINES - 1}", exact=True).count() == 0
            assert _times_said(page, note) == 1
            label_icons = kept.locator("summary [role=img]").all_inner_texts()
            assert label_icons == ["stop_circle"], "no error icon twice: the state icon alone says it"

            page.screenshot(path=str(tmp_path / f"reloaded-{locale}.png"))

            _ask(page, "what happened")
            page.get_by_text("I stopped at the user's request.").wait_for(timeout=60_000)
            history = server.requests[-1]["body"]["messages"]
            if locale == "en-US":  # once is enough: a reload mid-cell keeps the output too
                _reload_mid_cell(page, tmp_path)

    assert [m["role"] for m in history] == ["user", "assistant", "tool", "user"], "the empty note is not sent"
    observation = history[2]["content"]
    assert observation.startswith(f"{STOPPED_TOOL} Its output until then:\nline 0\nline 1\nline 2\nline 3\n")
    assert f"line {LINES - 1}" not in observation
    with Store(data) as store:
        (summary_row,) = store.list_conversations("local", "chat")
        turns = store.load_conversation("local", summary_row.id).turns
    first_turn = turns[0]
    stored = next(m for m in first_turn if m.role == "observation")
    assert stored.info["stopped"] is True and "line 3\n" in stored.info["output"]
    assert first_turn[-1].info.get("stopped") is True and first_turn[-1].content == ""
    if locale == "en-US":
        reloaded = next(m for m in turns[2] if m.role == "observation")
        assert reloaded.info["interrupted"] is True and "again 3\n" in reloaded.info["output"]
        assert reloaded.content.startswith(f"{INTERRUPTED_TOOL} Its output until then:\nagain 0\n")
        assert f"again {LINES - 1}" not in reloaded.content


def _reload_mid_cell(page: Page, tmp_path: Path) -> None:
    """A reload while a cell prints: the turn is closed as interrupted, with what was printed (the
    open turn is saved with the running call's output about every second)."""
    _ask(page, "count again")
    page.locator(MAIN).get_by_text("again 4", exact=True).wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.reload()
    _note(page, INTERRUPTED).wait_for(timeout=60_000)
    page.locator(MAIN).get_by_text("again 3", exact=True).wait_for(timeout=30_000)
    assert page.locator(MAIN).get_by_text(f"again {LINES - 1}", exact=True).count() == 0
    assert _times_said(page, "interrupted") == 1
    page.screenshot(path=str(tmp_path / "interrupted-en-US.png"), full_page=True)
