"""The README's way to try the app without weights, in headless Chromium: `python -m models.tiny DIR`,
then `GLM_MODEL=DIR streamlit run app/main.py`. The chat answers with the tiny model (twice, in one
conversation), and the sidebar offers the short answer length meant for a model this small."""

import subprocess
import sys
from pathlib import Path

import pytest

from app.store import Store
from models.saved import KEYS
from models.threads import SMALL_MODEL_MAX_NEW_TOKENS
from tests.e2e import CHAT_BOX, MESSAGE, MESSAGE_TEXT, ROOT, chromium, running_app

ENABLED = f"() => !document.querySelector('{CHAT_BOX}').disabled"


def test_the_readme_tiny_demo_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "tiny-glm"
    built = subprocess.run(
        [sys.executable, "-m", "models.tiny", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    data = tmp_path / "data"
    env = {
        "GLM_MODEL": str(folder),
        "GLM_DATA_DIR": str(data),
        "GLM_KERNEL_POOL": "0",
        "GLM_SEARCH_BACKEND": "",
    }
    with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
        page = browser.new_page(locale="en-US")
        page.goto(app.url)
        page.wait_for_selector(CHAT_BOX, timeout=300_000)
        page.wait_for_function(ENABLED, timeout=300_000)
        assert page.get_by_label("Max new tokens").input_value() == str(SMALL_MODEL_MAX_NEW_TOKENS)
        for n, question in enumerate(["Hello! What can you do?", "Tell me more."]):
            page.fill(CHAT_BOX, question)
            page.press(CHAT_BOX, "Enter")
            answer = page.locator(MESSAGE).nth(2 * n + 1)
            answer.get_by_text("total").wait_for(timeout=300_000)
            assert "first token" in answer.locator(MESSAGE_TEXT).inner_text(), "the model wrote something"
            assert answer.locator("[data-testid=stAlert]").count() == 0, answer.inner_text()
            page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=120_000)
            page.wait_for_function(ENABLED, timeout=120_000)
        page.screenshot(path=str(tmp_path / "tiny-demo.png"), full_page=True)
    store = Store(data)
    try:
        (summary,) = store.list_conversations("local", "chat")
        turns = store.load_conversation("local", summary.id).turns
    finally:
        store.close()
    assert [turn[0].content for turn in turns] == ["Hello! What can you do?", "Tell me more."]
    for turn in turns:
        assert turn[-1].role == "assistant" and turn[-1].info["finish_reason"] in ("stop", "length")
        assert turn[-1].info["timings"]["ttft_s"] is not None
