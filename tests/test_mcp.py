"""Tools from real MCP servers (tests/mcp_server.py, written with the SDK) over stdio and streamable HTTP:
listing, calls, schema checks, error results, timeouts, Stop, crashes and restarts, images, resources,
tool-list changes, garbage, and what the server's environment holds."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app.errors import McpCallError
from app.tools.base import ToolContext, ToolResult
from app.tools.mcp import sync_mcp_tools, tool_name
from app.tools.mcp import tools as mcp_tools
from app.tools.mcp.config import HttpSpec, ServerSpec, StdioSpec, load_config
from app.tools.mcp.hub import McpHub, ServerStatus
from app.tools.registry import get_tool, register_tool, unregister
from tests.e2e import free_port

SERVER = str(Path(__file__).with_name("mcp_server.py"))
TIMEOUT = 4.0


def stdio_spec(name: str = "demo", **env: str) -> ServerSpec:
    return ServerSpec(name, StdioSpec(sys.executable, (SERVER,), tuple(sorted(env.items()))))


def wait_for(check, what: str, seconds: float = 30.0):
    """Poll `check` until it returns something true (the hub works in its own thread)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def status(hub: McpHub, name: str = "demo") -> ServerStatus:
    return next(s for s in hub.servers() if s.name == name)


@pytest.fixture(scope="module")
def hub() -> Iterator[McpHub]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLM_API_KEY", "sk-app-secret")
        started = McpHub(TIMEOUT)
        started.configure([stdio_spec(GIVEN="by the config")])
        assert started.wait_ready("demo", 30).state == "ready"
    yield started
    started.close()


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("s1", tmp_path)


@pytest.fixture
def mcp_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """GLM_MCP_CONFIG naming the test server; the process-wide hub is shut down afterwards."""
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [SERVER]}}}))
    monkeypatch.setenv("GLM_MCP_CONFIG", str(path))
    monkeypatch.setenv("GLM_MCP_TIMEOUT", str(TIMEOUT))
    yield path
    mcp_tools.shutdown()
    sync_mcp_tools()


def run(hub: McpHub, tool: str, arguments: dict | str, ctx: ToolContext) -> ToolResult:
    made = mcp_tools._make_tool(hub, "demo", next(t for t in status(hub).tools if t.name == tool))
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return made.run(text, ctx)


def test_tools_are_listed_with_the_servers_schema_and_description(hub: McpHub) -> None:
    listed = {t.name: t for t in status(hub).tools}
    assert {"echo", "add", "fail", "slow", "crash", "picture", "report"} <= set(listed)
    add = mcp_tools._make_tool(hub, "demo", listed["add"])
    assert add.name == "demo__add" and add.source == "demo"
    assert add.description == "Add two whole numbers."
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a", "b"]
    assert add.template_entry["type"] == "function"


def test_a_call_returns_the_text(hub: McpHub, ctx: ToolContext) -> None:
    result = run(hub, "echo", {"text": "你好, MCP"}, ctx)
    assert (result.content, result.is_error) == ("你好, MCP", False)
    assert run(hub, "add", {"a": 2, "b": 40}, ctx).content == "42"


def test_arguments_are_checked_against_the_schema_before_the_call(hub: McpHub, ctx: ToolContext) -> None:
    wrong = run(hub, "add", {"a": "two", "b": 40}, ctx)
    assert wrong.is_error
    assert wrong.content.startswith("Invalid arguments for demo__add: a: 'two' is not of type 'integer'")
    missing = run(hub, "add", {"a": 1}, ctx)
    assert "'b' is a required property" in missing.content
    broken = run(hub, "echo", '{"text": ', ctx)
    assert broken.is_error and "not valid JSON" in broken.content


def test_an_error_result_is_an_observation(hub: McpHub, ctx: ToolContext) -> None:
    result = run(hub, "fail", {"reason": "the disk is on fire"}, ctx)
    assert result.is_error
    assert result.content.startswith("demo__fail reported an error:")
    assert "the disk is on fire" in result.content


def test_a_slow_call_times_out_and_the_server_carries_on(hub: McpHub, ctx: ToolContext) -> None:
    result = run(hub, "slow", {"seconds": 60}, ctx)
    assert result.is_error
    assert result.content == (
        f"slow on the MCP server 'demo' got no answer within {TIMEOUT:g} s (GLM_MCP_TIMEOUT); "
        "the call was cancelled."
    )
    assert "no answer" in status(hub).problem
    assert run(hub, "echo", {"text": "still here"}, ctx).content == "still here"


def test_stop_cancels_a_running_call(hub: McpHub, ctx: ToolContext) -> None:
    threading.Timer(0.3, ctx.cancel.set).start()
    result = run(hub, "slow", {"seconds": 60}, ctx)
    assert result.is_error
    assert result.content == "Stopped by the user: the call to slow was cancelled."
    ctx.cancel.clear()
    assert run(hub, "echo", {"text": "after stop"}, ctx).content == "after stop"


def test_an_image_result_is_a_note_for_the_model_and_an_image_for_the_step(
    hub: McpHub, ctx: ToolContext
) -> None:
    result = run(hub, "picture", {"color": "blue"}, ctx)
    assert not result.is_error
    assert result.content.startswith("a blue rectangle\n[image 1: image/png, ")
    assert result.content.endswith("shown to the user]")
    (image,) = result.attachments
    assert image.kind == "image" and image.mime == "image/png"
    decoded = Image.open(io.BytesIO(image.data))
    assert decoded.size == (48, 32) and decoded.convert("RGB").getpixel((5, 5)) == (0, 0, 255)


def test_resources_are_named(hub: McpHub, ctx: ToolContext) -> None:
    result = run(hub, "report", {}, ctx)
    assert result.content.splitlines() == [
        "Two resources:",
        "[resource sales.csv <file:///data/sales.csv>]",
        "[resource file:///data/notes.txt]",
        "Q3 was good.",
    ]


def test_output_that_is_not_mcp_fails_the_call_at_once(hub: McpHub, ctx: ToolContext) -> None:
    result = run(hub, "garbage", {}, ctx)
    assert result.is_error
    assert result.content.startswith(
        "The MCP server 'demo' failed during the call: It sent something that is not MCP"
    )
    assert "this is not JSON-RPC at all" in result.content
    assert "not MCP" in status(hub).problem
    assert run(hub, "echo", {"text": "fine"}, ctx).content == "fine"


def test_the_server_environment_is_the_configs_plus_path(hub: McpHub, ctx: ToolContext) -> None:
    environment = json.loads(run(hub, "environment", {}, ctx).content)
    assert environment["GIVEN"] == "by the config"
    assert "PATH" in environment
    # LC_CTYPE: Python's own C-locale coercion (PEP 538) in the server process.
    assert set(environment) <= {"GIVEN", "PATH", "LC_CTYPE"}
    assert "sk-app-secret" not in json.dumps(environment)


def test_a_changed_tool_list_is_picked_up(hub: McpHub, ctx: ToolContext) -> None:
    assert run(hub, "grow", {}, ctx).content == "added fresh"
    wait_for(lambda: any(t.name == "fresh" for t in status(hub).tools), "the new tool to be listed")
    assert run(hub, "fresh", {}, ctx).content == "fresh and new"


def test_a_crash_mid_call_is_one_observation_and_the_server_restarts(hub: McpHub, ctx: ToolContext) -> None:
    before = int(run(hub, "pid", {}, ctx).content)
    restarts = status(hub).restarts
    result = run(hub, "crash", {}, ctx)
    assert result.is_error
    assert result.content == (
        "The connection to the MCP server 'demo' closed during the call (did it crash?); "
        "it is being restarted."
    )
    down = wait_for(lambda: status(hub).problem.startswith("Its process ended") and status(hub), "the crash")
    assert down.tools, "a server that is down keeps its last known tools"
    wait_for(lambda: status(hub).restarts == restarts + 1 and status(hub).state == "ready", "the restart")
    assert int(run(hub, "pid", {}, ctx).content) != before


def test_servers_that_are_missing_exit_or_speak_garbage_are_down_with_a_reason(tmp_path: Path) -> None:
    noise = tmp_path / "noise.py"
    noise.write_text("import time\nprint('hello, I am not an MCP server', flush=True)\ntime.sleep(60)\n")
    hub = McpHub(2.0, startup=2.0)
    try:
        hub.configure(
            [
                ServerSpec("missing", StdioSpec("no-such-mcp-server-command")),
                ServerSpec(
                    "quitter", StdioSpec(sys.executable, ("-c", "import sys; sys.exit('no API token given')"))
                ),
                ServerSpec("noise", StdioSpec(sys.executable, (str(noise),))),
            ]
        )
        missing = wait_for(
            lambda: status(hub, "missing").state == "down" and status(hub, "missing"), "missing"
        )
        assert missing.problem == "The command 'no-such-mcp-server-command' was not found on PATH."
        quitter = wait_for(
            lambda: status(hub, "quitter").state == "down" and status(hub, "quitter"), "quitter"
        )
        assert quitter.tools == ()
        assert quitter.problem == "Its process ended; its last words: no API token given."
        noisy = wait_for(lambda: status(hub, "noise").state == "down" and status(hub, "noise"), "noise", 60)
        assert noisy.problem.startswith("It did not answer 'initialize' within 2 s")
        assert "hello, I am not an MCP server" in noisy.problem
        with pytest.raises(
            McpCallError,
            match=r"The MCP server 'missing' is down: The command .* It is started again in \d+ s\.$",
        ):
            hub.call("missing", "anything", {}, threading.Event())
    finally:
        hub.close()


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """The test server over streamable HTTP; `processes[-1]` is the running one (a test may restart it)."""
    port = free_port()
    processes = [start_http_server(port)]
    try:
        yield f"http://127.0.0.1:{port}/mcp", processes
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def start_http_server(port: int) -> subprocess.Popen:
    command = [sys.executable, SERVER, "--http", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _listening(port), "the HTTP server", 60)
    return process


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_a_streamable_http_server(http_server, ctx: ToolContext) -> None:
    url, processes = http_server
    hub = McpHub(TIMEOUT)
    try:
        hub.configure([ServerSpec("web", HttpSpec(url, (("X-Team", "glm"),)))])
        ready = hub.wait_ready("web", 30)
        assert ready.state == "ready" and ready.kind == "http"
        tools = {t.name: mcp_tools._make_tool(hub, "web", t) for t in ready.tools}
        assert tools["echo"].run('{"text": "over HTTP"}', ctx).content == "over HTTP"
        assert json.loads(tools["headers"].run("{}", ctx).content)["x-team"] == "glm"
        picture = tools["picture"].run("{}", ctx)
        assert picture.attachments and picture.attachments[0].kind == "image"
        assert (
            tools["add"].run('{"a": 1, "b": "x"}', ctx).content.startswith("Invalid arguments for web__add")
        )
        assert "web__fail reported an error" in tools["fail"].run('{"reason": "no"}', ctx).content
        assert "got no answer within" in tools["slow"].run('{"seconds": 60}', ctx).content
        processes[0].kill()
        processes[0].wait(10)
        gone = tools["echo"].run('{"text": "anyone?"}', ctx)
        # Whether the hub noticed the closed connection before or during this call is a race.
        assert gone.is_error and (
            "The connection to the MCP server 'web' closed during the call" in gone.content
            or "The MCP server 'web' is down: The server closed the connection" in gone.content
        )
        refused = "ConnectError: All connection attempts failed"
        wait_for(lambda: status(hub, "web").problem == refused, "a reconnection to be refused")
        processes.append(start_http_server(int(url.split(":")[2].split("/")[0])))
        wait_for(lambda: status(hub, "web").state == "ready", "the reconnection", 60)
        assert tools["echo"].run('{"text": "back again"}', ctx).content == "back again"
    finally:
        hub.close()


def test_config_file_entries(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    servers = {
        "files": {"command": "npx", "args": ["-y", "server-filesystem", "/srv"], "env": {"ROOT": "/srv"}},
        "web": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer t"}},
        "off": {"command": "x", "disabled": True},
        "bad name!": {"command": "x"},
        "neither": {"args": []},
        "badenv": {"command": "x", "env": {"A=B": "1"}},
        "ftp": {"url": "ftp://example.com"},
    }
    path.write_text(json.dumps({"mcpServers": servers}))
    config = load_config(str(path))
    assert config.servers == [
        ServerSpec("files", StdioSpec("npx", ("-y", "server-filesystem", "/srv"), (("ROOT", "/srv"),))),
        ServerSpec("web", HttpSpec("https://mcp.example.com/mcp", (("Authorization", "Bearer t"),))),
    ]
    refused = ["server 'bad name!'", "server 'neither'", "server 'badenv'", "server 'ftp'"]
    assert [e.split(":")[1].strip() for e in config.errors] == refused
    path.write_text("{not json")
    assert "is not valid JSON" in load_config(str(path)).errors[0]
    path.write_text("[]")
    assert load_config(str(path)).errors == [f'GLM_MCP_CONFIG: {path} has no "mcpServers" object']
    assert "can't read" in load_config(str(tmp_path / "nope.json")).errors[0]


def test_tool_names_are_prefixed_and_safe() -> None:
    assert tool_name("files", "read_file") == "files__read_file"
    assert tool_name("gh", "issues.create/v2") == "gh__issues_create_v2"
    assert len(tool_name("s", "x" * 100)) == 64


def test_registry_sync_from_the_config_file(mcp_config: Path, ctx: ToolContext) -> None:
    @register_tool
    def demo__pid() -> str:
        """A user's own function that happens to have an MCP tool's name."""
        return "mine"

    try:
        setup = wait_for(
            lambda: (s := sync_mcp_tools()).servers and s.servers[0].state == "ready" and s, "the server", 60
        )
        echo = get_tool("demo__echo")
        assert echo is not None and echo.source == "demo"
        assert echo.run('{"text": "registered"}', ctx).content == "registered"
        assert get_tool("demo__pid").source == ""
        assert any("demo__pid" in p and "already registered" in p for p in setup.problems)
        mcp_config.write_text(json.dumps({"mcpServers": {}}))
        assert sync_mcp_tools().servers == []
        assert get_tool("demo__echo") is None
    finally:
        unregister("demo__pid")


def test_the_readme_example_config_works(tmp_path: Path, ctx: ToolContext) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("<!-- mcp-example -->\n```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "mcp.json"
    path.write_text(example)
    config = load_config(str(path))
    assert config.errors == []
    (spec,) = config.servers
    root = str(Path(__file__).resolve().parent.parent)
    transport = spec.transport
    assert isinstance(transport, StdioSpec)
    hub = McpHub(TIMEOUT)
    try:
        # As the README runs it: from the repository's folder, where .venv is.
        local = StdioSpec(transport.command, transport.args, transport.env, root)
        hub.configure([ServerSpec(spec.name, local)])
        ready = hub.wait_ready("demo", 30)
        assert ready.state == "ready"
        environment = json.loads(hub.call("demo", "environment", {}, threading.Event()).content[0].text)
        assert environment["DEMO_NOTE"].startswith("only what is given here")
    finally:
        hub.close()
