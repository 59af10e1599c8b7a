"""Run the real app (`streamlit run app/main.py`) and drive it with Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAT_BOX = "[data-testid=stChatInputTextArea]"
MESSAGE = "[data-testid=stChatMessage]"
MESSAGE_TEXT = "[data-testid=stChatMessageContent]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen


@contextmanager
def running_app(
    env: dict[str, str], log: Path, args: Sequence[str] = (), launcher: Sequence[str] = ("-m", "streamlit")
) -> Iterator[RunningApp]:
    """`streamlit run app/main.py` headless on a free port (plus `args`), yielded once healthy;
    `launcher` is what runs Streamlit's command line (a bench may wrap it)."""
    port = free_port()
    command = [sys.executable, *launcher, "run", "app/main.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--browser.gatherUsageStats", "false", *args]
    with log.open("w") as out:
        app = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            else:
                raise RuntimeError(f"the app did not start: {log.read_text()[-2000:]}")
            yield RunningApp(url, app)
        finally:
            app.terminate()
            try:
                app.wait(15)
            except subprocess.TimeoutExpired:
                app.kill()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
