"""What one turn has produced so far, safe to close from another script run.

Streamlit's fast reruns start the next script run at once when the user clicks Stop or sends
something new, while the interrupted run's thread is still unwinding. Both may touch the turn: the
old thread may still add the observation it was waiting for, the new one closes the turn to save
it. Whoever closes first wins; anything added after that is dropped, so a turn is saved once.

A turn that fails keeps its error as an assistant message with empty content and `info["error"]`:
it is saved and shown with the turn, and the prompt renderers drop empty messages, so the model
never reads it.

While it runs, `on_change` is given what the turn holds after every finished message (and, at most
every `SAVE_EVERY_S`, with the answer streamed so far) so the store keeps it as it goes; a turn
found open after a crash, a reload or a closed tab is closed with `interrupted`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.timings import StepTimer
from app.tools.base import stopped_observation
from models.messages import Message

INTERRUPTED_TOOL = "Interrupted (the page was reloaded or closed) before the tool returned."
SAVE_EVERY_S = 1.0


@dataclass
class _Running:
    """A tool call still running, as the page last heard of it: its clock and its output so far."""

    seconds: float = 0.0
    output: str = ""


@dataclass
class TurnBuffer:
    messages: list[Message]
    timer: StepTimer = field(default_factory=StepTimer)
    notes: dict[str, Any] = field(default_factory=dict)
    streaming: list[str] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_change: Callable[[list[Message]], None] | None = None
    _saved_at: float = 0.0
    _running: dict[int, _Running] = field(default_factory=dict)

    def snapshot(self) -> list[Message]:
        """What the turn holds now, the answer streamed so far included (marked `partial`), and the
        output so far of a tool call still running (a `partial` observation; see `interrupted`)."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> list[Message]:
        partial = (
            [Message("assistant", "".join(self.streaming), info={"partial": True})] if self.streaming else []
        )
        running = unanswered_calls(self.messages)[:1]
        if running and (run := self._running.get(id(running[0]))) is not None:
            info = {"partial": True, "output": run.output, "seconds": round(run.seconds, 3)}
            partial = [Message("observation", run.output, "", running[0].tool_call_id, info=info)]
        return [*self.messages, *partial]

    def _changed(self, force: bool = True) -> None:
        """Hand the turn to `on_change` (outside the lock): after each finished message, and while
        text streams at most every SAVE_EVERY_S."""
        if self.on_change is None:
            return
        now = time.monotonic()
        with self.lock:
            if self.closed or (not force and now - self._saved_at < SAVE_EVERY_S):
                return
            self._saved_at = now
            messages = self._snapshot()
        self.on_change(messages)

    def stream(self, text: str) -> None:
        """Streamed answer text not yet part of a finished message."""
        with self.lock:
            if self.closed:
                return
            self.streaming.append(text)
            self.timer.token(1, text)
        self._changed(force=False)

    def tick(self, text: str) -> None:
        """Generated text that isn't answer text (a tool call being written, reasoning): timed only."""
        with self.lock:
            if not self.closed:
                self.timer.token(1, text)

    def tool_running(self, call: Message, seconds: float | None = None, output: str | None = None) -> None:
        """A call of this turn still runs: for how long, and what it printed so far (the whole text,
        bounded by the loop). A stop keeps both (`close`); the store gets them as the turn goes."""
        with self.lock:
            if self.closed:
                return
            run = self._running.setdefault(id(call), _Running())
            if seconds is not None:
                run.seconds = seconds
            if output is not None:
                run.output = output
        if output is not None:
            self._changed(force=False)

    def note(self, **notes: Any) -> None:
        """Display notes for the turn's last message (e.g. the history was trimmed to fit)."""
        with self.lock:
            self.notes.update(notes)

    def add(self, message: Message) -> None:
        """A finished message (a tool call, an observation, the answer); it supersedes streamed text.

        An observation ends a model step: its tool's time is recorded and the next step starts.
        """
        with self.lock:
            if self.closed:
                return
            self.streaming.clear()
            if message.role == "observation" and (waiting := unanswered_calls(self.messages)):
                call = next((c for c in waiting if c.tool_call_id == message.tool_call_id), waiting[0])
                self.timer.record_tool(call.metadata, float(message.info.get("seconds") or 0))
                if len(waiting) == 1:
                    self.timer.model_step()
            self.messages.append(message)
        self._changed()

    def add_streamed_answer(self, info: dict[str, Any]) -> None:
        """The streamed text becomes the turn's answer."""
        with self.lock:
            if self.closed:
                return
            self.messages.append(Message("assistant", "".join(self.streaming), info=info))
            self.streaming.clear()
        self._changed()

    def fail(
        self, error: str, refused: bool = False, kind: str = "", values: dict[str, Any] | None = None
    ) -> None:
        """The turn ended on an error: text streamed so far stays as a partial answer carrying it.

        A `refused` turn (the request can't be served as it is) is marked so, and left out of what
        later turns send (`app.agent.without_refused_turns`). An error with a `kind` keeps it and its
        `values` too, so it can be said again in another language (`app.agent.TurnError`)."""
        with self.lock:
            if self.closed:
                return
            info: dict[str, Any] = {"error": error, "timings": self.timer.to_dict()}
            if refused:
                info["refused"] = True
            if kind:
                info["error_kind"], info["error_values"] = kind, dict(values or {})
            self.messages.append(Message("assistant", "".join(self.streaming), info=info))
            self.streaming.clear()
        self._changed()

    def close(self) -> list[Message]:
        """The turn's messages, once: a second close (from the other thread) gets nothing.

        A tool call cut short (or not yet run, in a step of several) gets an observation saying so
        (every call needs its result, or chat-completions servers reject the history), after what it
        had printed (`stopped_observation`; the step shows that output, `info["output"]`). Text cut
        short is kept, marked stopped, with its timings so far; a turn cut anywhere else (in a tool,
        between steps, before the first token) ends with an empty answer marked stopped, so the turn
        says "stopped" once, under it (prompt renderers drop empty messages). The notes go on the
        last answer.
        """
        with self.lock:
            if self.closed:
                return []
            self.closed = True
            for call in unanswered_calls(self.messages):
                run = self._running.get(id(call), _Running())
                info = {"stopped": True, "output": run.output, "seconds": round(run.seconds, 3)}
                text = stopped_observation(run.output)
                self.messages.append(
                    Message("observation", text, "system_error", call.tool_call_id, info=info)
                )
            timings = {"timings": self.timer.to_dict()}
            if self.streaming:
                self.messages.append(
                    Message("assistant", "".join(self.streaming), info={"stopped": True, **timings})
                )
            elif not _ends_with_answer(self.messages):
                self.messages.append(Message("assistant", "", info={"stopped": True, **timings}))
            answers = [m for m in self.messages if m.role == "assistant" and not m.is_tool_call]
            if self.notes and answers:
                answers[-1].info = {**answers[-1].info, **self.notes}
            return list(self.messages)


def _ends_with_answer(messages: Sequence[Message]) -> bool:
    last = messages[-1] if messages else None
    return last is not None and last.role == "assistant" and not last.is_tool_call


def unanswered_calls(messages: Sequence[Message]) -> list[Message]:
    """The calls of the last step that have no observation yet, in order (a step's calls come
    first, then their observations in the same order)."""
    end = len(messages)
    answered = 0
    while end and messages[end - 1].role == "observation":
        end -= 1
        answered += 1
    start = end
    while start and messages[start - 1].is_tool_call:
        start -= 1
    return list(messages[start + answered : end])


def produced_nothing(messages: Sequence[Message]) -> bool:
    """True for a turn with no answer, call or observation after its question: only errors, or
    nothing at all (stopped before the first token)."""
    return all(not m.content and not m.is_tool_call for m in messages if m.role != "user")


def interrupted(messages: Sequence[Message]) -> list[Message]:
    """A turn found open (its writer gone: a reload, a closed tab, a crash) closed as it stands: calls
    without their results get one saying so (after the output a running call had printed, kept as a
    `partial` observation), a partial answer is kept, and the turn is marked."""
    closed = list(messages)
    mark = {"interrupted": True}
    if closed and closed[-1].role == "observation" and closed[-1].info.get("partial"):
        running = closed.pop()
        output = running.info.get("output", "")
        info = {"output": output, "seconds": running.info.get("seconds"), **mark}
        text = f"{INTERRUPTED_TOOL} Its output until then:\n{output}" if output.strip() else INTERRUPTED_TOOL
        closed.append(Message("observation", text, "system_error", running.tool_call_id, info=info))
    for call in unanswered_calls(closed):
        info = {"output": "", **mark}
        closed.append(Message("observation", INTERRUPTED_TOOL, "system_error", call.tool_call_id, info=info))
    last = closed[-1] if closed else None
    if last is not None and last.role == "assistant" and not last.is_tool_call:
        info = {k: v for k, v in last.info.items() if k != "partial"}
        closed[-1] = Message("assistant", last.content, info={**info, **mark})
    else:
        closed.append(Message("assistant", "", info=mark))
    return closed
