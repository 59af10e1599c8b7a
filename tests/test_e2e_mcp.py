"""The real app in headless Chromium with a real MCP server (tests/mcp_server.py over stdio): its tools
listed in the sidebar under the server, and a turn where the scripted model calls one, in both API
modes, with the image the tool returned shown in the step."""

import json
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

SERVER = str(Path(__file__).with_name("mcp_server.py"))
ANSWER = "The server drew a green rectangle for you."


def wait_until_ready(page: Page) -> None:
    """The sidebar shows a server's state as of the page's last run: on a machine so loaded that the
    server takes longer to start than the page waits for it, a reload shows it ready."""
    for _ in range(12):
        try:
            page.locator("[data-testid=stSidebar]").get_by_text("demo · ready").wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            page.reload()
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
    raise AssertionError("the MCP server never showed as ready")


def mcp_children(parent: int) -> list[int]:
    """Processes started by `parent` that run the test MCP server."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"mcp_server.py" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("mode", ["chat", "completions"])
def test_a_turn_that_calls_an_mcp_tool(mode: str, tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [SERVER]}}}))
    rules = [
        Rule('demo__picture\n{"color": "green"}', when="Draw"),
        Rule("\n" + ANSWER, when="a green rectangle"),
    ]
    with ScriptedServer(rules) as server, chromium() as browser:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_API_MODE": mode,
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_MCP_CONFIG": str(config),
            "GLM_SEARCH_BACKEND": "",
        }
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        with running_app(env, tmp_path / "app.log") as app:
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            sidebar = page.locator("[data-testid=stSidebar]")
            sidebar.get_by_text("MCP servers").wait_for(timeout=30_000)
            wait_until_ready(page)
            sidebar.get_by_text("demo · ready").click()
            sidebar.get_by_text("demo__picture").wait_for(timeout=10_000)
            page.screenshot(path=str(tmp_path / f"sidebar-{mode}.png"))

            page.fill(CHAT_BOX, "Draw me something green")
            page.press(CHAT_BOX, "Enter")
            page.get_by_text(ANSWER).wait_for(timeout=60_000)
            # The turn's end reruns the page (the history replaces the live turn): open the step after it.
            page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=30_000)
            page.locator(MESSAGE).nth(1).get_by_text("demo__picture").first.click()
            page.locator(MESSAGE).nth(1).get_by_text("[image 1: image/png").first.wait_for(timeout=10_000)
            image = page.locator(MESSAGE).nth(1).locator("img")
            image.first.wait_for(timeout=10_000)
            assert image.first.evaluate("img => img.naturalWidth") == 48
            page.screenshot(path=str(tmp_path / f"turn-{mode}.png"), full_page=True)
            servers = mcp_children(app.process.pid)
            assert len(servers) == 1, "one stdio server for the process, however many runs and sessions"
        for _ in range(100):
            if not any(Path(f"/proc/{pid}").exists() for pid in servers):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the MCP server outlived the app")

    sent = [r["body"] for r in server.requests]
    if mode == "chat":
        declared = [tool["function"]["name"] for tool in sent[0]["tools"]]
        assert "demo__picture" in declared
        observation = sent[1]["messages"][-1]
        assert observation["role"] == "tool"
        assert observation["content"].startswith("a green rectangle\n[image 1: image/png")
    else:
        assert "demo__picture" in sent[0]["prompt"]
        assert "a green rectangle\n[image 1: image/png" in sent[1]["prompt"]


def test_stop_cancels_a_running_mcp_call_and_the_server_answers_next(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [SERVER]}}}))
    rules = [
        Rule('demo__slow\n{"seconds": 120}', when="slow"),
        Rule('demo__echo\n{"text": "still alive"}', when="again"),
        Rule("\nThe server says it is still alive.", when="^still alive$"),
    ]
    with ScriptedServer(rules) as server, chromium() as browser:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_API_MODE": "chat",  # the requests' messages are checked below
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_MCP_CONFIG": str(config),
        }
        page = browser.new_page()
        with running_app(env, tmp_path / "app.log") as app:
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=60_000)
            wait_until_ready(page)
            page.fill(CHAT_BOX, "run the slow tool")
            page.press(CHAT_BOX, "Enter")
            page.get_by_text("demo__slow: running").first.wait_for(timeout=60_000)
            page.get_by_role("button", name="Stop").click()
            stopped = page.locator("[data-testid=stCaptionContainer]", has_text="stopped")
            stopped.first.wait_for(timeout=30_000)
            page.fill(CHAT_BOX, "try again")
            page.press(CHAT_BOX, "Enter")
            page.get_by_text("The server says it is still alive.").wait_for(timeout=60_000)
    history = server.requests[-2]["body"]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "user"]
    assert history[2]["content"].startswith("Stopped by the user")
