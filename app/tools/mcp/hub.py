"""The MCP servers of `GLM_MCP_CONFIG`, connected once per process by one event-loop thread.

The thread owns every `ClientSession` (the `mcp` SDK's): each server has a supervisor task that
starts it (a stdio process or a streamable-HTTP connection), initializes, lists its tools, re-lists
them on `notifications/tools/list_changed`, and when the connection ends starts it again after a
backoff (0.5 s doubling to 30 s; a connection that stayed up a minute starts the count afresh).
Starting (initialize and the first listing) may take GLM_MCP_TIMEOUT or 30 s, whichever is longer.
Tool calls come from the agent's worker threads through `McpHub.call`, which waits for the result
with the call's timeout and gives up at once when Stop is clicked (cancelling the request).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED
from pydantic import ValidationError

from app.errors import McpCallError
from app.tools.mcp.config import ServerSpec, StdioSpec
from app.tools.mcp.transport import Watched, open_transport, stderr_tail

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_S = 60.0
STARTUP_S = 30.0
POLL_S = 0.1
SHORT = 300

State = Literal["starting", "ready", "down"]


@dataclass(frozen=True)
class ServerStatus:
    """What the sidebar shows of one server: its state, its tools and the last thing that went wrong."""

    name: str
    kind: Literal["stdio", "http"]
    state: State
    tools: tuple[types.Tool, ...]
    problem: str = ""
    restarts: int = 0
    retry_in: float = 0.0


class _Server:
    """One configured server's live state; touched only on the hub's loop (read anywhere)."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.state: State = "starting"
        self.tools: tuple[types.Tool, ...] = ()
        self.problem = ""
        self.restarts = 0
        self.retry_at = 0.0
        self.noise = ""
        self.session: ClientSession | None = None
        self.up_since: float | None = None
        self.ready = asyncio.Event()
        self.relist = asyncio.Event()
        self.watchers: set[asyncio.Future[str]] = set()
        self.task: asyncio.Task[None] | None = None

    def status(self) -> ServerStatus:
        kind = "stdio" if isinstance(self.spec.transport, StdioSpec) else "http"
        return ServerStatus(
            self.spec.name, kind, self.state, self.tools, self.problem, self.restarts, self.retry_in()
        )

    def retry_in(self) -> float:
        """Seconds until the next start of a server that is down (the loop's clock is monotonic)."""
        return max(0.0, self.retry_at - time.monotonic()) if self.state == "down" else 0.0

    def trouble(self, reason: str) -> None:
        """Fail the calls in flight now with `reason` (they would otherwise wait for their timeout)."""
        for watcher in list(self.watchers):
            if not watcher.done():
                watcher.set_result(reason)


class McpHub:
    """The process's MCP connections, on a dedicated asyncio event-loop thread."""

    def __init__(self, timeout: float, startup: float | None = None) -> None:
        self.timeout = timeout
        self.startup = startup if startup is not None else max(timeout, STARTUP_S)
        self._loop = asyncio.new_event_loop()
        self._servers: dict[str, _Server] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-hub", daemon=True)
        self._thread.start()

    def configure(self, specs: Sequence[ServerSpec]) -> None:
        """Connect to `specs`: new servers start, changed ones restart, removed ones stop."""
        self._on_loop(self._configure(list(specs)), 30.0)

    def servers(self) -> list[ServerStatus]:
        return [server.status() for server in list(self._servers.values())]

    def settle(self, timeout: float) -> None:
        """Wait up to `timeout` until no server is still starting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(s.state == "starting" for s in self.servers()):
            time.sleep(POLL_S / 2)

    def wait_ready(self, name: str, timeout: float) -> ServerStatus:
        """The server's status once it is ready (or `timeout` passed): for tests and scripts."""
        return self._on_loop(self._wait_ready(name, timeout), timeout + 5.0)

    def call(
        self, server: str, tool: str, arguments: dict[str, Any], cancel: threading.Event
    ) -> types.CallToolResult:
        """Call `tool` on `server`; raises `McpCallError` (its message for the model) on any failure."""
        if self._closed:
            raise McpCallError("The MCP servers have been shut down with the app.")
        future = asyncio.run_coroutine_threadsafe(self._call(server, tool, arguments), self._loop)
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                if cancel.is_set():
                    future.cancel()
                    raise McpCallError(f"Stopped by the user: the call to {tool} was cancelled.") from None
            except asyncio.CancelledError:
                raise McpCallError("The MCP servers have been shut down with the app.") from None

    def close(self) -> None:
        """Stop every server (stdio processes end) and the loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        with suppress(Exception):
            self._on_loop(self._configure([]), 20.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)

    def _on_loop(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _configure(self, specs: list[ServerSpec]) -> None:
        wanted = {spec.name: spec for spec in specs}
        stopping = []
        for name, server in list(self._servers.items()):
            if wanted.get(name) != server.spec and server.task is not None:
                del self._servers[name]
                server.task.cancel()
                stopping.append(server.task)
        if stopping:
            await asyncio.wait(stopping, timeout=15.0)
        for name, spec in wanted.items():
            if name not in self._servers:
                server = _Server(spec)
                self._servers[name] = server
                server.task = asyncio.create_task(self._supervise(server), name=f"mcp-{name}")

    async def _wait_ready(self, name: str, timeout: float) -> ServerStatus:
        server = self._servers[name]
        with suppress(TimeoutError):
            await asyncio.wait_for(server.ready.wait(), timeout)
        return server.status()

    async def _supervise(self, server: _Server) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            server.state = "starting"
            server.up_since = None
            try:
                reason = await self._serve(server)
            except Exception as exc:
                reason = describe(exc)
            server.session = None
            server.ready.clear()
            server.trouble(reason)
            stable = server.up_since is not None and loop.time() - server.up_since >= STABLE_S
            failures = 1 if stable else failures + 1
            delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
            server.state, server.problem, server.retry_at = "down", reason, time.monotonic() + delay
            await asyncio.sleep(delay)
            server.restarts += 1

    async def _serve(self, server: _Server) -> str:
        """Connect, initialize and list; then keep the tool list fresh until the connection ends.

        Returns why the connection ended (with a stdio server's last stderr lines); raises when it
        couldn't start or failed otherwise.
        """
        closed = asyncio.Event()
        server.noise = ""
        start = self.startup
        with tempfile.TemporaryFile() as errlog:
            try:
                async with AsyncExitStack() as stack:
                    read, write = await stack.enter_async_context(
                        open_transport(server.spec, self.timeout, errlog)
                    )
                    session = ClientSession(
                        Watched(read, closed), write, message_handler=self._handler(server)
                    )
                    await stack.enter_async_context(session)
                    await self._within(session.initialize(), server, "answer 'initialize'", start)
                    server.tools = await self._within(_list_tools(session), server, "list its tools", start)
                    server.session = session
                    server.state = "ready"
                    server.up_since = asyncio.get_running_loop().time()
                    server.ready.set()
                    while not closed.is_set():
                        await _first(closed.wait(), server.relist.wait())
                        if server.relist.is_set() and not closed.is_set():
                            server.relist.clear()
                            listing = _list_tools(session)
                            server.tools = await self._within(listing, server, "list its tools", self.timeout)
            except Exception as exc:
                leaf = _leaf(exc)
                if not (isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED):
                    raise
            return _ended(server.spec, stderr_tail(errlog))

    async def _within(self, coro: Any, server: _Server, what: str, timeout: float) -> Any:
        try:
            return await asyncio.wait_for(coro, timeout)
        except TimeoutError:
            seen = f" ({server.noise})" if server.noise else ""
            raise McpCallError(f"It did not {what} within {timeout:g} s{seen}.") from None

    def _handler(self, server: _Server) -> Any:
        async def handle(message: Any) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                server.relist.set()
            elif isinstance(message, Exception):
                server.noise = f"It sent something that is not MCP: {describe(message)}"
                server.problem = server.noise
                server.trouble(server.noise)

        return handle

    async def _call(self, name: str, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        server = self._servers.get(name)
        if server is None:
            raise McpCallError(f"The MCP server {name!r} is no longer configured.")
        if server.state == "down":
            raise McpCallError(
                f"The MCP server {name!r} is down: {server.problem} It is started again in "
                f"{math.ceil(server.retry_in())} s."
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        if server.session is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(server.ready.wait(), self.timeout)
        session = server.session
        if session is None:
            why = server.problem or "no answer"
            raise McpCallError(f"The MCP server {name!r} did not start within {self.timeout:g} s: {why}")
        trouble: asyncio.Future[str] = loop.create_future()
        server.watchers.add(trouble)
        call = asyncio.ensure_future(session.call_tool(tool, arguments))
        try:
            done, _ = await asyncio.wait(
                {call, trouble}, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            if call in done:
                result = _result(call, name)
                if server.state == "ready":
                    server.problem = ""
                return result
            if trouble in done:
                raise McpCallError(f"The MCP server {name!r} failed during the call: {trouble.result()}")
            server.problem = f"A call to {tool} got no answer within {self.timeout:g} s."
            raise McpCallError(
                f"{tool} on the MCP server {name!r} got no answer within {self.timeout:g} s "
                "(GLM_MCP_TIMEOUT); the call was cancelled."
            )
        finally:
            server.watchers.discard(trouble)
            if not call.done():
                call.cancel()


def _result(call: asyncio.Future[Any], name: str) -> types.CallToolResult:
    try:
        return call.result()
    except MCPError as exc:
        if exc.code == CONNECTION_CLOSED:
            raise McpCallError(
                f"The connection to the MCP server {name!r} closed during the call (did it crash?); "
                "it is being restarted."
            ) from None
        raise McpCallError(f"The MCP server {name!r} answered with an error: {exc.message}") from None
    except ValidationError as exc:
        why = describe(exc)
        raise McpCallError(f"The MCP server {name!r} sent a result that is not valid MCP: {why}") from None


async def _first(*coros: Any) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _list_tools(session: ClientSession) -> tuple[types.Tool, ...]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tuple(tools)


def _ended(spec: ServerSpec, stderr: str) -> str:
    if not isinstance(spec.transport, StdioSpec):
        return "The server closed the connection."
    if not stderr:
        return "Its process ended."
    return f"Its process ended; its last words: {stderr}" + ("" if stderr.endswith((".", "!", "?")) else ".")


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """One line about an error, the first real one inside exception groups."""
    exc = _leaf(exc)
    if isinstance(exc, McpCallError):
        return str(exc)
    if isinstance(exc, ValidationError):
        text = str(exc.errors(include_url=False)[0].get("msg", exc)) if exc.errors() else str(exc)
        raw = exc.errors()[0].get("input") if exc.errors() else None
        if isinstance(raw, str):
            text += f": {raw[:120]!r}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text[:SHORT] + ("…" if len(text) > SHORT else "")
