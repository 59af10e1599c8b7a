"""How the hub reaches a server: a stdio process with only the config's environment, or a streamable
HTTP connection with the browser's connection limits; and the read stream watched for its end."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import httpx2
from mcp import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from app.errors import McpCallError
from app.tools.mcp.config import HttpSpec, ServerSpec, StdioSpec
from models.settings import env_float, env_int

ENV = shutil.which("env") or "/usr/bin/env"
SSE_READ_S = 300.0
TAIL_CHARS = 300


class Watched:
    """The transport's read stream, setting `closed` when it ends (the server exited or hung up).

    `ClientSession` reads it with `async with` and `async for`; everything else passes through.
    """

    def __init__(self, stream: Any, closed: asyncio.Event) -> None:
        self._stream = stream
        self._closed = closed

    async def __aenter__(self) -> Watched:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        self._closed.set()
        return await self._stream.__aexit__(*exc)

    def __aiter__(self) -> Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._stream.__anext__()
        except BaseException:
            self._closed.set()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stderr_tail(errlog: IO[bytes]) -> str:
    """The last lines a stdio server wrote to stderr, on one line."""
    errlog.seek(0, os.SEEK_END)
    errlog.seek(max(0, errlog.tell() - 4096))
    lines = [line.strip() for line in errlog.read().decode("utf-8", "replace").splitlines() if line.strip()]
    text = " | ".join(lines[-3:])
    return text[-TAIL_CHARS:]


def stdio_parameters(spec: StdioSpec) -> StdioServerParameters:
    """Start the server through `env -i`: its environment is the config's `env` plus `PATH`, nothing
    of the app's (the SDK alone would also pass HOME, USER, SHELL, TERM and LOGNAME)."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **dict(spec.env)}
    command = spec.command
    if os.sep not in command:
        found = shutil.which(command, path=env["PATH"])
        if found is None:
            raise McpCallError(f"The command {command!r} was not found on PATH.")
        command = found
    elif not os.path.isabs(command) and spec.cwd:
        command = os.path.join(spec.cwd, command)
    arguments = ["-i", *(f"{key}={value}" for key, value in env.items()), command, *spec.args]
    return StdioServerParameters(command=ENV, args=arguments, cwd=spec.cwd)


def http_client(spec: HttpSpec, timeout: float) -> httpx2.AsyncClient:
    """The client for a streamable-HTTP server, with the browser's connection limits (connect
    timeout, no proxies from the environment; the SDK follows redirects only within the origin).
    The read timeout is long: a server may hold its event stream open between messages."""
    connect = env_float("GLM_BROWSER_CONNECT_TIMEOUT", 5.0)
    limits = httpx2.Timeout(timeout, connect=connect, read=max(SSE_READ_S, timeout))
    return httpx2.AsyncClient(headers=dict(spec.headers), timeout=limits, trust_env=False)


@asynccontextmanager
async def open_transport(spec: ServerSpec, timeout: float, errlog: IO[bytes]) -> AsyncIterator[Any]:
    """The SDK's stream pair for the server: a stdio process (stderr to `errlog`) or streamable HTTP."""
    transport = spec.transport
    if isinstance(transport, StdioSpec):
        async with stdio_client(stdio_parameters(transport), errlog=errlog) as streams:  # type: ignore[arg-type]
            yield streams
        return
    max_bytes = env_int("GLM_BROWSER_MAX_BYTES", 5_000_000, minimum=1)
    async with (
        http_client(transport, timeout) as client,
        streamable_http_client(transport.url, http_client=client, max_sse_event_size=max_bytes) as streams,
    ):
        yield streams
