"""Stop and crash safety in the real app: Stop ends a long generation fast; a killed app loses
at most the answer being streamed."""

import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page

from app.store import Store
from tests.e2e import CHAT_BOX, MESSAGE, RunningApp, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

LONG = "\n" + "and so the story goes on " * 400
# The issue asks for "within a second"; the bound leaves room for a loaded test machine.
STOP_BOUND_S = 2.0


@contextmanager
def chat_page(rules: list[Rule], data: Path, log: Path) -> Iterator[tuple[ScriptedServer, RunningApp, Page]]:
    """The app against a scripted model, open in Chromium at the All Tools page."""
    with ScriptedServer(rules) as server:
        env = {"GLM_BACKEND": "openai", "GLM_API_BASE": server.base_url, "GLM_DATA_DIR": str(data)}
        env["GLM_API_MODE"] = "chat"  # the tests read the chat messages sent
        with running_app(env, log) as app, chromium() as browser:
            page = browser.new_page()
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=30_000)
            yield server, app, page


def ask(page: Page, text: str) -> None:
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


def test_stop_cancels_a_long_generation_and_keeps_the_partial_answer(tmp_path: Path) -> None:
    with chat_page([Rule(LONG, delay=0.02)], tmp_path / "data", tmp_path / "app.log") as (server, _, page):
        ask(page, "Tell me a long story")
        page.get_by_text("and so the story goes on").first.wait_for(timeout=30_000)
        clicked = time.monotonic()
        page.get_by_role("button", name="Stop").click()
        while server.script.disconnects == 0 and time.monotonic() - clicked < STOP_BOUND_S:
            time.sleep(0.01)
        latency = time.monotonic() - clicked
        print(f"stop latency: {latency:.3f} s")
        assert server.script.disconnects == 1, (
            f"the model server should see the request cancelled within {STOP_BOUND_S} s"
        )
        page.get_by_text("stopped").first.wait_for(timeout=30_000)
        page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
        data = Store(tmp_path / "data")
        (summary,) = data.list_conversations("local", "chat")
        (turn,) = data.load_conversation("local", summary.id).turns
        assert turn[-1].info.get("stopped") is True
        assert 0 < turn[-1].content.count("story goes on") < 400, "a partial answer, kept"
        timings = turn[-1].info["timings"]
        assert timings["ttft_s"] > 0 and timings["tokens"] > 0, "with its timings"
        page.get_by_text("tokens/s (estimated)").first.wait_for(timeout=30_000)
        assert page.locator(MESSAGE).count() == 2


def test_killed_mid_stream_keeps_every_finished_turn_and_the_one_in_progress(tmp_path: Path) -> None:
    rules = [Rule("\nShort answer one.", when="first"), Rule(LONG, when="second", delay=0.05)]
    with chat_page(rules, tmp_path / "data", tmp_path / "app.log") as (_, app, page):
        ask(page, "first question")
        page.get_by_text("Short answer one.").first.wait_for(timeout=30_000)
        page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
        ask(page, "second question")
        page.get_by_text("and so the story goes on").first.wait_for(timeout=30_000)
        time.sleep(1.5)  # the answer streamed so far is saved about every second
        app.process.send_signal(signal.SIGKILL)
        app.process.wait(10)
        address = page.url
    db = sqlite3.connect(tmp_path / "data" / "studio.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    data = Store(tmp_path / "data")
    (summary,) = data.list_conversations("local", "chat")
    stored = data.load_conversation("local", summary.id)
    first, second = [[m.content for m in t] for t in stored.turns]
    assert first == ["first question", "Short answer one."]
    assert second[0] == "second question" and "story goes on" in second[1], "kept as it went"
    assert stored.open_turn is not None
    data.close()

    with chat_page(rules, tmp_path / "data", tmp_path / "app2.log") as (_, app, page):
        page.goto(app.url + "/?" + address.split("?", 1)[1])
        page.get_by_text("interrupted: the page was reloaded or closed").first.wait_for(timeout=30_000)
    reopened = Store(tmp_path / "data").load_conversation("local", summary.id)
    assert reopened.open_turn is None
    assert reopened.turns[1][-1].info.get("interrupted") is True


def test_stop_interrupts_a_running_cell_and_the_kernel_answers_next(tmp_path: Path) -> None:
    rules = [
        Rule(
            "python\nimport time\nfor _ in range(1200):\n    time.sleep(0.05)\nprint('finished')", when="slow"
        ),
        Rule("python\nprint('alive', 6 * 7)", when="again"),
        Rule("\nThe kernel says alive 42.", when="alive 42"),
    ]
    with chat_page(rules, tmp_path / "data", tmp_path / "app.log") as (server, _, page):
        ask(page, "run the slow cell")
        page.get_by_text("python: running").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Stop").click()
        page.locator("[data-testid=stCaptionContainer]", has_text="stopped").first.wait_for(timeout=30_000)
        ask(page, "try again")
        page.get_by_text("The kernel says alive 42.").first.wait_for(timeout=30_000)
        history = server.requests[-2]["body"]["messages"]
        assert [m["role"] for m in history] == ["user", "assistant", "tool", "user"], history
        assert history[2]["content"] == "Stopped by the user before the tool returned."
        assert "finished" not in server.requests[-1]["body"]["messages"][-1]["content"]
