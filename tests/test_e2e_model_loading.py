"""Model loading in the real app and headless Chromium: All Tools and Vision opened at once on a fresh app
load the text and the vision model at the same time; a folder that isn't a checkpoint yet is said as
such in the tab's language (no traceback, no import error) with a "Try loading again" button, and once
the checkpoints are there the button loads them in both tabs. A hub id with no hub to reach fails at once,
in words."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page

from models.saved import KEYS
from models.tiny import build_text_checkpoint, build_vision_checkpoint
from tests.e2e import CHAT_BOX, chromium, free_port, running_app

MAIN = "[data-testid=stMainBlockContainer]"
RETRY, RETRY_ZH = "Try loading again", "重新加载"


def failed_to_load(page: Page, retry: str, said: str) -> str:
    page.get_by_role("button", name=retry).wait_for(timeout=120_000)
    shown = page.locator(MAIN).inner_text()
    assert said in shown, shown
    assert page.locator("[data-testid=stException]").count() == 0
    for sign in ("Traceback", "ImportError", "cannot import name"):
        assert sign not in shown, shown
    return shown


def test_concurrent_first_loads_fail_in_words_and_load_on_retry(tmp_path: Path, monkeypatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    text, vision = tmp_path / "tiny-glm", tmp_path / "tiny-glm4v"
    text.mkdir()
    vision.mkdir()
    env = {
        "GLM_MODEL": str(text),
        "GLM_VISION_MODEL": str(vision),
        "GLM_DATA_DIR": str(tmp_path / "data"),
        "GLM_KERNEL_POOL": "0",
        "GLM_SEARCH_BACKEND": "",
    }
    with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
        chat, images = browser.new_page(locale="en-US"), browser.new_page(locale="zh-CN")
        chat.goto(app.url, wait_until="commit")
        images.goto(f"{app.url}/vision", wait_until="commit")  # both first loads start together
        failed_to_load(chat, RETRY, f"GLM_MODEL={text} is a folder without a config.json")
        failed_to_load(images, RETRY_ZH, f"GLM_VISION_MODEL={vision} 是一个没有 config.json 的文件夹")
        assert chat.locator(CHAT_BOX).is_disabled() and images.locator(CHAT_BOX).is_disabled()
        assert chat.locator(CHAT_BOX).get_attribute("placeholder") == "The text model isn't available"
        assert images.locator(CHAT_BOX).get_attribute("placeholder") == "视觉模型不可用"

        build_text_checkpoint(text)
        build_vision_checkpoint(vision)
        chat.get_by_role("button", name=RETRY).click()
        images.get_by_role("button", name=RETRY_ZH).click()
        for page, ready in ((chat, f"{text.name} is ready"), (images, f"{vision.name} 已就绪")):
            page.get_by_text(ready).wait_for(timeout=180_000)
            page.wait_for_selector(f"{CHAT_BOX}:not([disabled])", timeout=60_000)
            assert page.get_by_role("button", name=RETRY).count() == 0
            assert page.get_by_role("button", name=RETRY_ZH).count() == 0
    assert "Traceback" not in (tmp_path / "app.log").read_text()


def test_a_hub_id_without_the_hub_fails_at_once_in_words(tmp_path: Path, monkeypatch) -> None:
    """No network: the hub doesn't answer (here: nothing listens at HF_ENDPOINT), so the load goes
    offline and fails at once with the reason, instead of a spinner through a minute of retries."""
    for name in (*KEYS, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "GLM_MODEL": "some-org/glm-not-in-the-cache",
        "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "HF_HOME": str(tmp_path / "hf"),
        "GLM_DATA_DIR": str(tmp_path / "data"),
        "GLM_KERNEL_POOL": "0",
        "GLM_SEARCH_BACKEND": "",
    }
    with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
        page = browser.new_page(locale="en-US")
        started = time.monotonic()
        page.goto(app.url)
        shown = failed_to_load(page, RETRY, "Can't load GLM_MODEL=some-org/glm-not-in-the-cache")
        print(f"load error shown {time.monotonic() - started:.1f} s after opening the page")
        assert "offline" in shown.lower(), shown
