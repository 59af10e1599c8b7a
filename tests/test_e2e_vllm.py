"""The real app in headless Chromium against a real vLLM serving the tiny GLM-4 checkpoint, with nothing
but the server's address set (GLM_API_MODE defaults to auto).

The tiny model writes random text, so it can't be made to call a tool: the All Tools test seeds the
conversation store with a turn holding a python call and its observation, and checks that the stored
history is replayed to vLLM in GLM-4's format, over several turns. A recording proxy between the app
and vLLM (tests/vllm_server.py) shows what was sent, and drops one answer mid-stream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.store import Store
from models.messages import Message
from tests.e2e import CHAT_BOX, RunningApp, chromium, running_app
from tests.vllm_server import MAX_MODEL_LEN, TEST_TIMEOUT_S, Recorder, recording_proxy

USER = "local"
SEEDED = [
    Message("user", "Compute 2**10 with python"),
    Message("assistant", "print(2**10)", metadata="python"),
    Message("observation", "1024", metadata="python", info={"seconds": 0.1, "is_error": False}),
    Message("assistant", "2**10 is 1024, computed with python."),
]
DOCUMENT = "The lighthouse keeper of Vardø logged 417 ships in the winter of 1911.\n" * 3

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


@pytest.fixture(scope="module")
def studio(
    vllm_text, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningApp, Recorder, Path]]:
    root = tmp_path_factory.mktemp("e2e-vllm")
    with recording_proxy(vllm_text.base_url) as (base_url, recorder):
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": base_url,
            "GLM_DATA_DIR": str(root / "data"),
            "GLM_MAX_STEPS": "2",
        }
        with running_app(env, root / "app.log") as app:
            yield app, recorder, root / "data"


def open_page(browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector(CHAT_BOX, timeout=60_000)
    page.locator("[data-testid=stSidebar]").get_by_text("Generation", exact=True).click()
    page.get_by_label("Max new tokens").fill("24")
    page.get_by_label("Max new tokens").press("Enter")
    return page


def ask(page: Page, text: str) -> None:
    page.fill(CHAT_BOX, text)
    page.press(CHAT_BOX, "Enter")


def turns_stored(data: Path, workspace: str, count: int, timeout: float = 120) -> list[list[Message]]:
    """The only conversation of `workspace`, once it has `count` finished turns (turns are written as
    they go: the question first, the answer when the turn closes)."""
    deadline = time.monotonic() + timeout
    while True:
        with Store(data) as store:
            found = store.list_conversations(USER, workspace)
            conversation = store.load_conversation(USER, found[0].id) if found else None
        turns = conversation.turns if conversation else []
        done = len(turns) >= count and conversation is not None and conversation.open_turn is None
        if done or time.monotonic() > deadline:
            assert done, f"{len(turns)} turns stored, waited for {count} finished"
            return turns
        time.sleep(0.3)


def last_prompt(recorder: Recorder) -> str:
    return recorder.model_requests()[-1]["body"]["prompt"]


def test_all_tools_replays_a_stored_tool_call_over_several_turns(studio, tmp_path: Path) -> None:
    app, recorder, data = studio
    with Store(data) as store:
        cid = store.create_conversation(USER, "chat")
        store.append_turn(USER, cid, SEEDED)
    with chromium() as browser:
        page = open_page(browser, f"{app.url}/?c={cid}")
        page.get_by_text("2**10 is 1024, computed with python.").wait_for(timeout=30_000)
        ask(page, "And 2**11?")
        second = turns_stored(data, "chat", 2)[1]
        ask(page, "Thanks, and 2**12?")
        third = turns_stored(data, "chat", 3)[2]
        page.get_by_text("Thanks, and 2**12?").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "all-tools-vllm.png"))
    prompt = last_prompt(recorder)
    assert recorder.model_requests()[-1]["path"] == "/v1/completions", "auto mode: raw completions"
    replayed = "<|assistant|>python\nprint(2**10)<|observation|>python\n1024<|assistant|>\n2**10 is 1024"
    assert replayed in prompt
    assert "<|user|>\nAnd 2**11?<|assistant|>" in prompt
    assert prompt.endswith("<|user|>\nThanks, and 2**12?<|assistant|>")
    for turn in (second, third):
        answer = turn[-1]
        assert answer.role in ("assistant", "observation") and not answer.info.get("error"), answer.info
    timings = third[-1].info.get("timings") or {}
    if third[-1].role == "assistant":
        assert timings.get("counted_by") == "server", "vLLM reports usage on the completions stream"


def test_documents_answer_from_an_uploaded_file(studio, tmp_path: Path) -> None:
    app, recorder, data = studio
    upload = tmp_path / "keeper.txt"
    upload.write_text(DOCUMENT, encoding="utf-8")
    with chromium() as browser:
        page = open_page(browser, f"{app.url}/documents")
        page.locator("input[type=file]").first.set_input_files(str(upload))
        page.get_by_text("keeper.txt").first.wait_for(timeout=60_000)
        ask(page, "How many ships did the keeper log?")
        (turn,) = turns_stored(data, "documents", 1)
    assert not turn[-1].info.get("error"), turn[-1].info
    prompt = last_prompt(recorder)
    assert "417 ships" in prompt and "How many ships did the keeper log?" in prompt


def test_an_over_long_question_is_refused_clearly_and_the_next_one_works(studio) -> None:
    app, recorder, _ = studio
    sent_before = len(recorder.model_requests())
    with chromium() as browser:
        page = open_page(browser, f"{app.url}/")
        ask(page, "lighthouse " * 2500)
        page.get_by_text(f"context window of {MAX_MODEL_LEN} tokens").first.wait_for(timeout=60_000)
        assert len(recorder.model_requests()) == sent_before, "refused by the app's exact count, not sent"
        ask(page, "A short question now.")
        page.get_by_text("A short question now.").first.wait_for(timeout=30_000)
        deadline = time.monotonic() + 120
        while len(recorder.model_requests()) == sent_before and time.monotonic() < deadline:
            time.sleep(0.3)
    prompt = last_prompt(recorder)
    assert "lighthouse lighthouse" not in prompt, "the refused question is not sent again"
    assert prompt.endswith("<|user|>\nA short question now.<|assistant|>")


def test_the_server_going_away_mid_stream_is_a_clear_error_and_the_chat_goes_on(studio) -> None:
    app, recorder, _ = studio
    with chromium() as browser:
        page = open_page(browser, f"{app.url}/")
        recorder.cut_next = True
        ask(page, "Tell me about lighthouses.")
        page.get_by_text("connection to the model server was lost").first.wait_for(timeout=60_000)
        assert recorder.cuts == 1
        ask(page, "Still there?")
        page.get_by_text("Still there?").first.wait_for(timeout=30_000)
        deadline = time.monotonic() + 120
        while not last_prompt(recorder).endswith("Still there?<|assistant|>") and time.monotonic() < deadline:
            time.sleep(0.3)
    assert "Tell me about lighthouses." in last_prompt(recorder), "a lost connection keeps the question"
