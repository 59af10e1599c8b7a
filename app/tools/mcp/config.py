"""`GLM_MCP_CONFIG`: the MCP servers to connect to, in the shared client format.

```json
{"mcpServers": {
  "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"],
            "env": {"HOME": "/home/me"}},
  "tracker": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer …"}}
}}
```
A server with `command` is started over stdio; one with `url` is reached over streamable HTTP; one
with `"disabled": true` is left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.settings import env_str

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StdioSpec:
    """A server the app starts itself and talks to over its stdin and stdout."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None


@dataclass(frozen=True)
class HttpSpec:
    """A server reached over streamable HTTP."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServerSpec:
    name: str
    transport: StdioSpec | HttpSpec


@dataclass
class McpConfig:
    """The servers a config file describes, and why any entry (or the file) was refused."""

    servers: list[ServerSpec] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def config_path() -> str:
    return env_str("GLM_MCP_CONFIG")


def load_config(path: str) -> McpConfig:
    """Read the config file; a broken entry is skipped with a message, the others are kept."""
    config = McpConfig()
    try:
        raw = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        config.errors.append(f"GLM_MCP_CONFIG: can't read {path}: {exc.strerror or exc}")
        return config
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        config.errors.append(f"GLM_MCP_CONFIG: {path} is not valid JSON: {exc}")
        return config
    servers = raw.get("mcpServers") if isinstance(raw, dict) else None
    if not isinstance(servers, dict):
        config.errors.append(f'GLM_MCP_CONFIG: {path} has no "mcpServers" object')
        return config
    for name, entry in servers.items():
        if isinstance(entry, dict) and entry.get("disabled") is True:
            continue
        try:
            config.servers.append(ServerSpec(name, _transport(name, entry)))
        except ValueError as exc:
            config.errors.append(f"GLM_MCP_CONFIG: server {name!r}: {exc}")
    return config


def _transport(name: str, entry: Any) -> StdioSpec | HttpSpec:
    if not SERVER_NAME.match(name):
        raise ValueError("names are 1 to 32 letters, digits, '_' or '-' (they begin its tools' names)")
    if not isinstance(entry, dict):
        raise ValueError("expected an object with a command or a url")
    if "command" in entry:
        command = entry["command"]
        if not isinstance(command, str) or not command.strip():
            raise ValueError('"command" must be a non-empty string')
        cwd = entry.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise ValueError('"cwd" must be a string')
        env = _pairs(entry, "env")
        if bad := [key for key, _ in env if not ENV_NAME.match(key)]:
            raise ValueError(f'"env" has names that are not environment variable names: {bad}')
        return StdioSpec(command, _strings(entry, "args"), env, cwd)
    if "url" in entry:
        url = entry["url"]
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise ValueError('"url" must be an http:// or https:// URL')
        return HttpSpec(url, _pairs(entry, "headers"))
    raise ValueError('expected "command" (a stdio server) or "url" (a streamable HTTP server)')


def _strings(entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'"{key}" must be a list of strings')
    return tuple(value)


def _pairs(entry: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'"{key}" must be an object of strings')
    return tuple(sorted(value.items()))
