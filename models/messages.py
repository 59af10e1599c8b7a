"""The conversation data every layer shares: messages, attachments and generation settings."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "observation"]


class _LazyData:
    """`Attachment.data`: the bytes given, else (a stored attachment) read by its loader on each
    access, so a reopened conversation holds no image bytes until one is shown."""

    def __get__(self, obj: Attachment | None, owner: type | None = None) -> bytes | None:
        if obj is None:
            return None  # the dataclass field's default
        data = obj.__dict__.get("_data")
        loader = obj.__dict__.get("_loader")
        if data is None and loader is not None and obj.blob:
            return loader(obj.blob)
        return data

    def __set__(self, obj: Attachment, value: bytes | None) -> None:
        obj.__dict__["_data"] = value


@dataclass
class Attachment:
    """An image or file that travels with a message (shown in the UI; images may go to a vision model).

    `blob` names the bytes kept by the conversation store (`app/store/blobs.py`); a stored attachment
    reads them through the loader the store binds, only when `data` is asked for.
    """

    kind: Literal["image", "file"]
    name: str
    mime: str = "application/octet-stream"
    data: bytes | None = _LazyData()  # type: ignore[assignment]
    path: str | None = None
    blob: str | None = field(default=None, compare=False)

    def bind(self, loader: Callable[[str], bytes | None]) -> None:
        """Where `data` comes from when it isn't held: `loader(blob)`."""
        self.__dict__["_loader"] = loader

    @property
    def held(self) -> bytes | None:
        """The bytes held in memory (not loaded from the store)."""
        return self.__dict__.get("_data")

    def to_dict(self, inline: bool = True) -> dict[str, Any]:
        """As JSON: the bytes in base64 when `inline` (exports), else only the blob's name (the store)."""
        data = self.data if inline else None
        return {
            "kind": self.kind,
            "name": self.name,
            "mime": self.mime,
            "data": base64.b64encode(data).decode() if data is not None else None,
            "path": self.path,
            "blob": self.blob,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Attachment:
        data = raw.get("data")
        return cls(
            kind=raw["kind"],
            name=raw["name"],
            mime=raw.get("mime", "application/octet-stream"),
            data=base64.b64decode(data) if data is not None else None,
            path=raw.get("path"),
            blob=raw.get("blob"),
        )


@dataclass
class Message:
    """One turn in GLM-4 terms.

    `metadata` is the tool name on an assistant tool call and an optional tag on an observation.
    `tool_call_id` pairs a call with its observation for chat-completions servers.
    `reasoning` is what a thinking model (GLM-4.5+) wrote in `<think>` before this answer or call
    step; the GLM-4.5 format sends it back only within the current turn.
    `info` is display-only (timings, sources, citations) and never reaches the model.
    """

    role: Role
    content: str
    metadata: str = ""
    tool_call_id: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""

    @property
    def is_tool_call(self) -> bool:
        return self.role == "assistant" and bool(self.metadata)

    def to_dict(self, inline: bool = True) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "metadata": self.metadata,
            "tool_call_id": self.tool_call_id,
            "attachments": [a.to_dict(inline) for a in self.attachments],
            "info": self.info,
            "reasoning": self.reasoning,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Message:
        return cls(
            role=raw["role"],
            content=raw["content"],
            metadata=raw.get("metadata", ""),
            tool_call_id=raw.get("tool_call_id", ""),
            attachments=[Attachment.from_dict(a) for a in raw.get("attachments", [])],
            info=raw.get("info", {}),
            reasoning=raw.get("reasoning", ""),
        )


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.8
    top_p: float = 0.8
    max_new_tokens: int = 1024
    thinking: bool = True
    """For thinking models (GLM-4.5+): False asks for no reasoning (the template's `enable_thinking`)."""
