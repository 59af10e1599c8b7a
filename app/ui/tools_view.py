"""The All Tools sidebar's tool list: the app's and the user's tools, then each MCP server with its
tools, each switchable; returns the tools switched on."""

from __future__ import annotations

import json
import math

import streamlit as st

from app.tools.base import Tool
from app.tools.browser import search_backend_problem
from app.tools.browser.guard import allow_problems
from app.tools.mcp import McpSetup
from app.tools.mcp.hub import ServerStatus
from app.ui.i18n import plural, t
from app.ui.render import plain, safe_markdown

STATE_ICONS = {"ready": ":material/check_circle:", "starting": ":material/sync:", "down": ":material/error:"}


def tools_sidebar(tools: list[Tool], plugin_errors: dict[str, str | None], mcp: McpSetup) -> list[Tool]:
    """Toggles for every tool (on by default, kept per browser session) and what went wrong loading them."""
    own = [tool for tool in tools if not tool.source]
    st.subheader(t("chat.tools"))
    enabled = [tool for tool in own if _toggle(tool)]
    for tool in own:
        with st.expander(t("chat.schema", name=plain(tool.name))):
            st.code(json.dumps(tool.function_schema, indent=2, ensure_ascii=False), language="json")
    for path, error in plugin_errors.items():
        if error:
            st.error(safe_markdown(f"{path}: {error}"))
    if mcp.servers or mcp.problems:
        st.subheader(t("mcp.servers"))
    for problem in mcp.problems:
        st.warning(safe_markdown(problem), icon=":material/warning:")
    for server in mcp.servers:
        enabled += _server_section(server, [tool for tool in tools if tool.source == server.name])
    return enabled


def _toggle(tool: Tool) -> bool:
    return st.toggle(
        plain(tool.name), value=True, key=f"tool-{tool.name}", help=safe_markdown(_summary(tool))
    )


def _summary(tool: Tool) -> str:
    """The tooltip: the description, then the arguments with their types."""
    properties = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required") or [])
    lines = [tool.description.strip()]
    for name, schema in properties.items():
        kind = schema.get("type", "any") if isinstance(schema, dict) else "any"
        star = "" if name in required else "?"
        lines.append(f"- `{name}{star}`: {kind}")
    return "\n".join(lines)


def _server_section(server: ServerStatus, tools: list[Tool]) -> list[Tool]:
    state = t(f"mcp.state.{server.state}")
    label = f"{STATE_ICONS[server.state]} {plain(server.name)} · {state} · {plural('mcp.tools', len(tools))}"
    if server.state == "down":
        seconds = math.ceil(server.retry_in)
        st.warning(
            safe_markdown(t("mcp.down", name=plain(server.name), problem=server.problem, seconds=seconds)),
            icon=":material/error:",
        )
    elif server.problem:
        st.warning(
            safe_markdown(t("mcp.problem", name=plain(server.name), problem=server.problem)),
            icon=":material/warning:",
        )
    with st.expander(label, expanded=False):
        restarts = plural("mcp.restarts", server.restarts) if server.restarts else ""
        st.caption(t(f"mcp.kind.{server.kind}") + restarts)
        return [tool for tool in tools if _toggle(tool)]


def browser_setup_note() -> str | None:
    """What the sidebar tells the admin about the browser's setup (the search backend in the user's
    language, ignored `GLM_BROWSER_ALLOW` entries as the guard words them), or None when all is well."""
    problem = search_backend_problem()
    backend = t(f"search.{problem[0]}", setup=t("search.setup"), **problem[1]) if problem else None
    notes = [note for note in (backend, *allow_problems()) if note]
    return "\n\n".join(notes) or None
