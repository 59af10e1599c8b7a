"""What one turn has produced so far, safe to close from another script run.

Streamlit's fast reruns start the next script run at once when the user clicks Stop or sends
something new, while the interrupted run's thread is still unwinding. Both may touch the turn: the
old thread may still add the observation it was waiting for, the new one closes the turn to save
it. Whoever closes first wins; anything added after that is dropped, so a turn is saved once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from models.messages import Message

STOPPED_TOOL = "Stopped by the user before the tool returned."


@dataclass
class TurnBuffer:
    messages: list[Message]
    streaming: list[str] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream(self, text: str) -> None:
        """Streamed answer text not yet part of a finished message."""
        with self.lock:
            if not self.closed:
                self.streaming.append(text)

    def add(self, message: Message) -> None:
        """A finished message (a tool call, an observation, the answer); it supersedes streamed text."""
        with self.lock:
            if not self.closed:
                self.streaming.clear()
                self.messages.append(message)

    def add_streamed_answer(self, info: dict[str, Any]) -> None:
        """The streamed text becomes the turn's answer."""
        with self.lock:
            if not self.closed:
                self.messages.append(Message("assistant", "".join(self.streaming), info=info))
                self.streaming.clear()

    def close(self) -> list[Message]:
        """The turn's messages, once: a second close (from the other thread) gets nothing.

        A tool call cut short gets an observation saying so (every call needs its result, or
        chat-completions servers reject the history); text cut short is kept, marked stopped.
        """
        with self.lock:
            if self.closed:
                return []
            self.closed = True
            if self.messages and self.messages[-1].is_tool_call:
                call = self.messages[-1]
                info = {"is_error": True, "stopped": True}
                self.messages.append(
                    Message("observation", STOPPED_TOOL, "system_error", call.tool_call_id, info=info)
                )
            if self.streaming:
                self.messages.append(Message("assistant", "".join(self.streaming), info={"stopped": True}))
            return list(self.messages)
