"""The All Tools page (Streamlit's AppTest) with MCP servers: their tools listed and switchable under
each server, and a server that can't start shown as a warning while the page and the turn carry on."""

import json
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.tools.mcp import sync_mcp_tools
from app.tools.mcp import tools as mcp_tools
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN

SERVER = str(Path(__file__).with_name("mcp_server.py"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "mcp.json"
    servers = {
        "demo": {"command": sys.executable, "args": [SERVER]},
        "broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit('no token configured')"]},
    }
    config.write_text(json.dumps({"mcpServers": servers}))
    rules = [Rule('demo__add\n{"a": 2, "b": 3}', when="add"), Rule("\nTwo and three make 5.", when="^5$")]
    with ScriptedServer(rules) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the tools go as declared functions, checked below
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
        monkeypatch.setenv("GLM_MCP_CONFIG", str(config))
        yield server
    mcp_tools.shutdown()
    monkeypatch.delenv("GLM_MCP_CONFIG")
    sync_mcp_tools()


def test_servers_and_their_tools_in_the_sidebar(env) -> None:
    at = AppTest.from_file(MAIN, default_timeout=90)
    at.run()
    for _ in range(10):
        # The page waits a while for servers that are starting; a very loaded machine may need a rerun.
        if any(e.label.endswith("12 tools") for e in at.sidebar.expander):
            break
        time.sleep(3)
        at.run()
    assert not at.exception
    labels = [toggle.label.replace("\\", "") for toggle in at.sidebar.toggle]  # names shown escaped
    assert {"demo__echo", "demo__add", "demo__picture"} <= set(labels)
    assert labels.index("python") < labels.index("demo__echo")
    expanders = [e.label for e in at.sidebar.expander]
    assert any("demo · ready · 12 tools" in label for label in expanders)
    warnings = [w.value for w in at.sidebar.warning]
    assert any(
        w.startswith("MCP server broken is down: Its process ended; its last words: no token")
        for w in warnings
    )

    next(t for t in at.sidebar.toggle if t.label == "demo\\_\\_echo").set_value(False)
    at.chat_input[0].set_value("Please add 2 and 3").run()
    assert not at.exception
    declared = [tool["function"]["name"] for tool in env.requests[0]["body"]["tools"]]
    assert "demo__add" in declared and "demo__echo" not in declared
    assert env.requests[1]["body"]["messages"][-1]["content"] == "5"
    assert "Two and three make 5." in at.chat_message[1].markdown[-1].value
