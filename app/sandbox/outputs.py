"""A cell's outputs: collected in order from iopub messages, bounded in memory, and rendered as text."""

from __future__ import annotations

import base64
import re
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "interrupted", "died"]
# CSI (colours, cursor); OSC, DCS, SOS, PM and APC strings ended by BEL or ESC \\ (hyperlinks,
# titles); charset designations such as ESC ( B; and the remaining two-character escapes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[()*+\-./][ -~]"
    r"|\x1b[ -/]*[0-~]"
)
# Image outputs kept per cell: how many, how big each (decoded bytes), and how much in all. Past
# these an image is dropped and the outputs end with a note saying so.
MAX_IMAGES = 20
MAX_IMAGE_BYTES = 5 * 2**20
MAX_CELL_IMAGE_BYTES = 20 * 2**20
# Rich outputs kept as images, best first; SVG is text that a browser would run as markup, so it is
# offered as a file, never rendered inline.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _image_bytes(data: dict[str, Any]) -> int | None:
    """Decoded size of an output's image (base64 except SVG), or None when it has none."""
    mime = next((m for m in IMAGE_TYPES if data.get(m)), None)
    if mime is None:
        return None
    raw = data[mime]
    size = sum(len(part) for part in raw) if isinstance(raw, list) else len(raw)
    return size if mime == "image/svg+xml" else size * 3 // 4


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def cap_text(text: str, limit: int) -> str:
    """Keep the head and the tail of `text` within `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(limit - 80, 2)
    head, tail = text[: keep // 2], text[len(text) - keep // 2 :]
    return with_cut(head, len(text) - len(head) - len(tail), tail)


def with_cut(head: str, cut: int, tail: str) -> str:
    """`head` and `tail` of a text, saying how many characters were cut between them (none: joined)."""
    return f"{head}\n... [{cut} characters of output cut] ...\n{tail}" if cut else head + tail


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return struct.unpack(">II", data[16:24])


def image_summary(mime: str, data: bytes) -> str:
    """How an image is described to the model, which can't see it."""
    if mime == "image/svg+xml":
        return "[image: SVG, offered to the user as a file]\n"
    kind = mime.removeprefix("image/").upper()
    size = png_size(data) if mime == "image/png" else None
    return f"[image: {size[0]}x{size[1]} {kind}]\n" if size else f"[image: {kind}]\n"


@dataclass
class Output:
    """One output in notebook terms: `stream`, `display_data`, `execute_result` or `error`."""

    output_type: str
    content: dict[str, Any]

    @property
    def image(self) -> tuple[str, bytes] | None:
        """(mime, bytes) of the output's image, if it has one of IMAGE_TYPES."""
        data = self.content.get("data", {})
        mime = next((m for m in IMAGE_TYPES if data.get(m)), None)
        if mime is None:
            return None
        raw = data[mime]
        text = "".join(raw) if isinstance(raw, list) else raw
        return mime, text.encode() if mime == "image/svg+xml" else base64.b64decode(text)

    def text(self) -> str:
        """Plain text for the model: ANSI stripped, images summarised."""
        if self.output_type == "stream":
            return strip_ansi(self.content["text"])
        if self.output_type == "error":
            return strip_ansi("\n".join(self.content.get("traceback", []))) + "\n"
        if (image := self.image) is not None:
            return image_summary(*image)
        plain = self.content.get("data", {}).get("text/plain", "")
        return strip_ansi(plain) + "\n" if plain else ""


@dataclass
class ExecutionResult:
    """A cell's outcome; `notes` are facts the model must know first (a new kernel, a killed process)."""

    status: Status
    outputs: list[Output] = field(default_factory=list)
    error: str | None = None
    execution_count: int | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """(mime, bytes) of every image output, in order."""
        return [image for out in self.outputs if (image := out.image) is not None]

    def text(self) -> str:
        parts = [f"[{note}]\n" for note in self.notes] + [out.text() for out in self.outputs]
        if self.error and self.status != "error":  # an error's traceback already ends with it
            parts.append(f"[{self.error}]\n")
        return "".join(parts)


def _text_size(out: Output) -> int:
    if out.output_type == "stream":
        return len(out.content["text"])
    if out.output_type == "error":
        return sum(len(line) for line in out.content.get("traceback", []))
    data = out.content.get("data", {})
    if any(m in data for m in IMAGE_TYPES):
        return len(data.get("text/plain", ""))
    return sum(len(str(v)) for v in data.values())


class OutputCollector:
    """Turns iopub messages into outputs, keeping at most about `budget` characters of text.

    Past the budget the head is kept plus a rolling tail, so a cell that prints millions of lines
    costs a bounded amount of memory; what was dropped in between is noted in the outputs.
    `listener`, when given, receives each output's text as it arrives (ANSI stripped, images
    summarised), before any budget applies: the live view of a running cell.
    """

    def __init__(self, budget: int, listener: Callable[[str], None] | None = None) -> None:
        self.budget = budget
        self._listener = listener
        self.execution_count: int | None = None
        self._head: list[Output] = []
        self._tail: deque[Output] = deque()
        self._used = 0
        self._tail_len = 0
        self._dropped = 0
        self._images = 0
        self._image_bytes = 0
        self._images_dropped = 0
        self._notes: list[str] = []

    def note(self, text: str) -> None:
        """Something the model must know about the outputs (said where the outputs end)."""
        self._notes.append(text)

    @property
    def outputs(self) -> list[Output]:
        return self._head + list(self._tail)

    def add(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "execute_input":
            self.execution_count = content.get("execution_count")
        elif kind == "stream":
            self._add_stream(content["name"], content["text"])
            if self._listener is not None:
                self._listener(strip_ansi(content["text"]))
        elif kind in {"display_data", "execute_result", "error"}:
            if self._listener is not None:
                self._listener(Output(kind, content).text())
            if kind == "execute_result":
                self.execution_count = content.get("execution_count", self.execution_count)
            if (size := _image_bytes(content.get("data", {}))) is not None:
                kept = self._images - self._images_dropped
                self._images += 1
                too_many = kept >= MAX_IMAGES or size > MAX_IMAGE_BYTES
                if too_many or self._image_bytes + size > MAX_CELL_IMAGE_BYTES:
                    self._images_dropped += 1
                    return
                self._image_bytes += size
            self._append(Output(kind, {k: v for k, v in content.items() if k != "transient"}))
        elif kind == "clear_output":
            self._head.clear()
            self._tail.clear()
            self._used = self._tail_len = 0

    def _add_stream(self, name: str, text: str) -> None:
        if not self._tail:
            room = max(self.budget - self._used, 0)
            head, text = text[:room], text[room:]
            if head:
                last = self._head[-1] if self._head else None
                if last and last.output_type == "stream" and last.content["name"] == name:
                    last.content["text"] += head
                else:
                    self._head.append(Output("stream", {"name": name, "text": head}))
                self._used += len(head)
            if not text:
                return
        last = self._tail[-1] if self._tail else None
        if last and last.output_type == "stream" and last.content["name"] == name:
            last.content["text"] += text
            self._tail_len += len(text)
            self._trim()
        else:
            self._append(Output("stream", {"name": name, "text": text}), force_tail=True)

    def _append(self, out: Output, force_tail: bool = False) -> None:
        size = _text_size(out)
        if not force_tail and not self._tail and self._used + size <= self.budget:
            self._head.append(out)
            self._used += size
            return
        self._tail.append(out)
        self._tail_len += size
        self._trim()

    def _trim(self) -> None:
        limit = self.budget // 2
        while self._tail_len > limit and self._tail:
            first, excess = self._tail[0], self._tail_len - limit
            size = _text_size(first)
            if first.output_type == "stream" and size > excess:
                first.content["text"] = first.content["text"][excess:]
                size = excess
            elif len(self._tail) == 1 and first.output_type != "stream":
                break
            else:
                self._tail.popleft()
            self._tail_len -= size
            self._dropped += size

    def finish(self) -> list[Output]:
        """The outputs in order, with a note where anything was dropped."""
        notes = []
        if self._dropped:
            notes.append(f"{self._dropped} characters of output dropped")
        if self._images_dropped:
            notes.append(
                f"{self._images_dropped} of {self._images} images dropped: a cell shows at most {MAX_IMAGES} "
                f"images, each up to {MAX_IMAGE_BYTES // 2**20} MB, {MAX_CELL_IMAGE_BYTES // 2**20} MB in all"
            )
        end = [Output("stream", {"name": "stdout", "text": f"\n[{note}]\n"}) for note in self._notes]
        if not notes:
            return [*self.outputs, *end]
        note = Output("stream", {"name": "stdout", "text": f"\n... [{'; '.join(notes)}] ...\n"})
        return [*self._head, note, *self._tail, *end]
