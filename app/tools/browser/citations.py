"""The per-conversation citation map and rendering `【id†…】` citations as Markdown links.

The map lives in the conversation's tool state (`ToolContext.state["simple_browser"]`), a JSON-ready dict:
`{"next_id": 3, "sources": {"0": {"title": ..., "url": ..., "host": ..., "kind": "result" | "page"}}}`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

STATE_KEY = "simple_browser"
CITATION = re.compile(r"【(\d+)†([^】]*)】")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&$])")


def browser_state(tool_state: dict[str, Any]) -> dict[str, Any]:
    """The browser's part of a conversation's tool state, created on first use."""
    state = tool_state.setdefault(STATE_KEY, {})
    state.setdefault("next_id", 0)
    state.setdefault("sources", {})
    return state


def add_source(state: dict[str, Any], title: str, url: str, kind: str) -> int:
    """Record a search result or opened page under a new id, unique within the conversation."""
    source_id = state["next_id"]
    state["next_id"] = source_id + 1
    state["sources"][str(source_id)] = {"title": title, "url": url, "host": host_of(url), "kind": kind}
    return source_id


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def _link_target(url: str) -> str | None:
    if urlsplit(url).scheme not in {"http", "https"}:
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%~[]")


def link(label: str, url: str) -> str:
    """A Markdown link with an escaped label; plain escaped text when the URL isn't http(s)."""
    target = _link_target(url)
    if target is None:
        return escape_markdown(label)
    return f"[{escape_markdown(label)}]({target})"


def render_citations(markdown_text: str, tool_state: dict[str, Any]) -> str:
    """Turn each `【id†…】` into `[title](url)`; unknown ids stay as escaped plain text.

    `tool_state` is the conversation's tool state (`ToolContext.state`) or its `simple_browser` part.
    """
    state = tool_state.get(STATE_KEY, tool_state)
    sources = state.get("sources", {}) if isinstance(state, dict) else {}

    def replace(match: re.Match[str]) -> str:
        source = sources.get(match.group(1))
        target = _link_target(source.get("url", "")) if isinstance(source, dict) else None
        if source is None or target is None:
            return escape_markdown(match.group(0))
        return link(source.get("title") or source.get("host") or target, source["url"])

    return CITATION.sub(replace, markdown_text)


_PARTIAL_TAIL = re.compile(r"【\d*(?:†[^】]*)?\Z")
MAX_HELD_BACK = 200


def render_live_citations(text_so_far: str, tool_state: dict[str, Any]) -> str:
    """`render_citations` for an answer still streaming: a citation cut off at the end (`【3†sou`) is
    held back until its `】` arrives, so it shows as a link at once rather than as raw text first."""
    if (partial := _PARTIAL_TAIL.search(text_so_far[-MAX_HELD_BACK:])) is not None:
        text_so_far = text_so_far[: len(text_so_far) - len(partial.group(0))]
    return render_citations(text_so_far, tool_state)
