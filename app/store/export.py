"""A conversation as a Markdown transcript (for people) or JSON (complete, and read back by `from_json`)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from app.store import Conversation, StoredDocument
from app.timings import format_timings
from models.messages import Message

FORMAT = "glm-studio.conversation"
VERSION = 1


def _fenced(text: str, language: str = "") -> str:
    """A code block whose fence is longer than any run of backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _message_markdown(message: Message) -> list[str]:
    if message.is_tool_call:
        language = "python" if message.metadata == "python" else ""
        parts = [f"**Tool call: `{message.metadata}`**", _fenced(message.content, language)]
    elif message.role == "observation":
        label = f"**Observation** ({message.metadata})" if message.metadata else "**Observation**"
        parts = [label, _fenced(message.content, "text")]
    else:
        parts = [message.content] if message.content else []
    if reasoning := message.reasoning or message.info.get("reasoning"):
        parts.insert(0, "**Thinking**\n\n" + "\n".join(f"> {line}" for line in reasoning.splitlines()))
    for attachment in message.attachments:
        if message.info.get("image") and attachment.kind == "image" and attachment.data:
            # A generated image travels inside the transcript (there is no other copy beside it).
            encoded = base64.b64encode(attachment.data).decode()
            parts.append(f"![{attachment.name}](data:{attachment.mime};base64,{encoded})")
        else:
            parts.append(f"- attachment: {attachment.name} ({attachment.mime})")
    timings = format_timings(message.info.get("timings") or message.info)
    if timings:
        parts.append(f"*{timings}*")
    if message.info.get("stopped") and message.role != "observation":  # a stopped call's text says so
        parts.append("*(stopped)*")
    if error := message.info.get("error"):
        parts.append(f"**Error:** {error}")
    return parts


def to_markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.title}", f"*{conversation.workspace} · started {_when(conversation.created)}*"]
    if conversation.documents:
        lines.append(
            "Documents:\n" + "\n".join(f"- {d.name} (sha256 {d.sha256[:12]})" for d in conversation.documents)
        )
    heading = ""
    for message in conversation.messages:
        role_heading = {"user": "## User", "system": "## System"}.get(message.role, "## Assistant")
        if role_heading != heading:
            lines.append(role_heading)
            heading = role_heading
        lines.extend(_message_markdown(message))
    return "\n\n".join(lines) + "\n"


def to_json(conversation: Conversation) -> str:
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "id": conversation.id,
        "owner": conversation.owner,
        "workspace": conversation.workspace,
        "title": conversation.title,
        "created": conversation.created,
        "updated": conversation.updated,
        "tool_state": conversation.tool_state,
        "documents": [asdict(d) for d in conversation.documents],
        "turns": [[m.to_dict() for m in turn] for turn in conversation.turns],
    }
    return json.dumps(payload, ensure_ascii=False, indent=1)


def from_json(text: str) -> Conversation:
    """Reads `to_json` output back; ValueError for anything else."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError("not a GLM Studio conversation export")
    if raw.get("version") != VERSION:
        raise ValueError(f"unsupported conversation export version {raw.get('version')!r}")
    return Conversation(
        id=raw["id"],
        owner=raw["owner"],
        workspace=raw["workspace"],
        title=raw["title"],
        created=raw["created"],
        updated=raw["updated"],
        turns=[[Message.from_dict(m) for m in turn] for turn in raw["turns"]],
        tool_state=raw["tool_state"],
        documents=[StoredDocument(**d) for d in raw["documents"]],
    )
