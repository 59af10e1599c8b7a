"""MCP tool-call figures, in one run: `.venv/bin/python -m bench.mcp`.

The round trip of a small call (`echo`) to the test server (tests/mcp_server.py over stdio) through
the app's path (schema check, the hub's event-loop thread, the result rendered as an observation)
against the SDK's own `ClientSession.call_tool` on a session of its own, medians over CALLS calls;
then the same for an image result (`picture`), which the app also checks and re-encodes in the
sandboxed image worker (`app/images.py`), as it does for uploads.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client

from app.tools.base import ToolContext
from app.tools.mcp import tools as mcp_tools
from app.tools.mcp.config import ServerSpec, StdioSpec
from app.tools.mcp.hub import McpHub

CALLS = 200
SERVER = str(Path(__file__).resolve().parent.parent / "tests" / "mcp_server.py")
CASES = {"echo": ('{"text": "hello"}', {"text": "hello"}), "picture": ("{}", {})}


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _raw(tool: str, arguments: dict) -> list[float]:
    """The SDK alone: one session, `call_tool` awaited in a loop."""
    parameters = StdioServerParameters(command=sys.executable, args=[SERVER])
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.list_tools()
        samples = []
        for _ in range(CALLS):
            started = time.perf_counter()
            await session.call_tool(tool, arguments)
            samples.append(time.perf_counter() - started)
        return samples


def _app(hub: McpHub, tool: str, text: str) -> list[float]:
    """The app's path, from the agent's worker thread: the registry tool's `run`."""
    listed = next(t for t in hub.servers()[0].tools if t.name == tool)
    made = mcp_tools._make_tool(hub, "demo", listed)
    assert not isinstance(made, str)
    ctx = ToolContext("bench", Path(tempfile.gettempdir()), cancel=threading.Event())
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        result = made.run(text, ctx)
        samples.append(time.perf_counter() - started)
        assert not result.is_error, result.content
    return samples


def main() -> None:
    hub = McpHub(60.0)
    try:
        hub.configure([ServerSpec("demo", StdioSpec(sys.executable, (SERVER,)))])
        assert hub.wait_ready("demo", 60).state == "ready"
        print(f"MCP tool call round trip, median of {CALLS} calls (stdio, tests/mcp_server.py)")
        for tool, (text, arguments) in CASES.items():
            raw = _median_ms(asyncio.run(_raw(tool, arguments)))
            app = _median_ms(_app(hub, tool, text))
            print(f"  {tool:8s} raw SDK {raw:7.2f} ms   app {app:7.2f} ms   ratio app / raw {app / raw:.2f}x")
    finally:
        hub.close()


if __name__ == "__main__":
    main()
