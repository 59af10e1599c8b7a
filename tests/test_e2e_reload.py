"""Nothing lost on reload, in the real app in Chromium: a turn in progress is in the store from its
question on, so a reload, a closed tab or a navigation away keeps the question and the answer so far,
marked interrupted, in every workspace and for a turn that is not the conversation's first. And two
tabs on one conversation: a stale tab's Retry can't replace the other tab's newer turn."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.store import Store
from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

LONG = "\n" + "and so the story goes on " * 400
INTERRUPTED = "interrupted: the page was reloaded or closed"
WORKSPACES = {"chat": "", "documents": "documents", "vision": "vision"}


def _env(server: ScriptedServer, data: Path) -> dict[str, str]:
    return {
        "GLM_BACKEND": "openai",
        "GLM_API_BASE": server.base_url,
        "GLM_VISION_MODEL": "glm-4v-scripted",
        "GLM_DATA_DIR": str(data),
    }


def _ask(page: Page, text: str) -> None:
    page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=60_000)
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


def _stored(data: Path, workspace: str):
    with Store(data) as store:
        (summary,) = store.list_conversations("local", workspace)
        return store.load_conversation("local", summary.id)


@pytest.mark.parametrize(
    ("workspace", "leave"),
    [("chat", "reload"), ("documents", "reload"), ("vision", "reload"), ("chat", "close"), ("chat", "away")],
)
def test_a_turn_in_progress_survives_leaving_the_page(workspace: str, leave: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    rules = [Rule("\nFirst answer.", when="first"), Rule(LONG, when="second", delay=0.05)]
    with (
        ScriptedServer(rules) as server,
        running_app(_env(server, data), tmp_path / "app.log") as app,
        chromium() as browser,
    ):
        page = browser.new_page()
        page.goto(f"{app.url}/{WORKSPACES[workspace]}")
        _ask(page, "first question")
        page.get_by_text("First answer.").first.wait_for(timeout=60_000)
        page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
        _ask(page, "second question")
        page.get_by_text("and so the story goes on").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # the answer so far is saved about every second
        address = page.url
        if leave == "reload":
            page.reload()
        elif leave == "away":
            page.goto("about:blank")
            page.goto(address)
        else:
            page.close()
            page = browser.new_page()
            page.goto(address)
        page.get_by_text(INTERRUPTED).first.wait_for(timeout=60_000)
        bubbles = page.locator(MESSAGE).all_inner_texts()
        assert "second question" in bubbles[2] and "story goes on" in bubbles[3]
        assert "First answer." in bubbles[1]
    first, second = _stored(data, workspace).turns
    assert [m.content for m in first] == ["first question", "First answer."]
    assert second[0].content == "second question"
    assert "story goes on" in second[-1].content and second[-1].info.get("interrupted") is True


def test_a_stale_tabs_retry_cannot_replace_a_newer_turn(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rules = [Rule("\nFirst answer.", when="first"), Rule("\nSecond answer.", when="second")]
    rules.append(Rule("\nA retried first answer."))
    with (
        ScriptedServer(rules) as server,
        running_app(_env(server, data), tmp_path / "app.log") as app,
        chromium() as browser,
    ):
        tab1 = browser.new_page()
        tab1.goto(app.url)
        _ask(tab1, "first question")
        tab1.get_by_text("First answer.").first.wait_for(timeout=60_000)
        tab1.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
        tab2 = browser.new_page()
        tab2.goto(tab1.url)
        tab2.get_by_text("First answer.").first.wait_for(timeout=60_000)
        _ask(tab2, "second question")
        tab2.get_by_text("Second answer.").first.wait_for(timeout=60_000)

        tab1.bring_to_front()
        tab1.get_by_role("button", name="Retry last answer").click()
        tab1.get_by_text("This conversation changed in another tab").first.wait_for(timeout=60_000)
        tab1.get_by_text("Second answer.").first.wait_for(timeout=30_000)
        assert tab1.get_by_text("A retried first answer.").count() == 0
    turns = _stored(data, "chat").turns
    assert [[m.content for m in turn] for turn in turns] == [
        ["first question", "First answer."],
        ["second question", "Second answer."],
    ]
    assert len(server.requests) == 2, "the stale Retry never reached the model"
