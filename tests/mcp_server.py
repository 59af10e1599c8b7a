"""A real MCP server, written with the `mcp` SDK, for the tests and the README's example config.

`python tests/mcp_server.py` serves it over stdio; `python tests/mcp_server.py --http PORT` over
streamable HTTP at http://127.0.0.1:PORT/mcp. Its tools cover what a client must survive: a plain
call, typed arguments, an error result, a slow call, a crash, an image, resources, a tool list that
changes, output that is not MCP, and a look at its own environment.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp_types import EmbeddedResource, ResourceLink, TextContent, TextResourceContents

# The process's real stdout, kept before the SDK diverts fd 1 to stderr to protect the protocol.
WIRE = os.dup(1)

server = MCPServer("demo", instructions="Test tools for GLM Studio.", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Send the text back unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always fail, with the reason given."""
    raise ToolError(reason)


@server.tool()
async def slow(seconds: float) -> str:
    """Wait some seconds, then answer."""
    await asyncio.sleep(seconds)
    return f"waited {seconds} s"


@server.tool()
def crash() -> str:
    """End the server's process in the middle of the call."""
    os._exit(3)


@server.tool()
def pid() -> int:
    """The server process's id (a restarted server has a new one)."""
    return os.getpid()


@server.tool()
def picture(color: str = "red"):  # no return type: a list[object] output schema can't be serialised
    """A small square picture of one color."""
    from PIL import Image as Pillow

    out = io.BytesIO()
    Pillow.new("RGB", (48, 32), color).save(out, "PNG")
    return [f"a {color} rectangle", Image(data=out.getvalue(), format="png")]


@server.tool()
def report():
    """A result made of resources: a link and an embedded text file."""
    link = ResourceLink(type="resource_link", name="sales.csv", uri="file:///data/sales.csv")
    note = TextResourceContents(uri="file:///data/notes.txt", text="Q3 was good.", mime_type="text/plain")
    return [
        TextContent(type="text", text="Two resources:"),
        link,
        EmbeddedResource(type="resource", resource=note),
    ]


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool named `fresh` and tell the client its tool list changed."""
    server.add_tool(lambda: "fresh and new", name="fresh", description="A tool added while running.")
    await ctx.session.send_tool_list_changed()
    return "added fresh"


@server.tool()
async def garbage() -> str:
    """Write a line that is not MCP to the protocol stream, then wait."""
    os.write(WIRE, b"this is not JSON-RPC at all\n")
    await asyncio.sleep(60)
    return "never"


@server.tool()
def headers(ctx: Context) -> str:
    """The HTTP request's headers, as JSON (streamable HTTP only)."""
    return json.dumps(dict(ctx.headers or {}), sort_keys=True)


@server.tool()
def environment() -> str:
    """The names and values of this process's environment variables, as JSON."""
    return json.dumps(dict(os.environ), sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
