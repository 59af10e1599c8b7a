"""The turn loop: model -> tool calls -> observations -> model, as a stream of typed events.

It knows nothing of Streamlit: pages render the events and append the messages they carry.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.timings import StepTimer
from app.tools.base import Tool, ToolContext, ToolResult
from app.tools.registry import dispatch
from models.backends.base import ChatBackend
from models.events import Done, TextDelta, ToolCall, ToolCallDelta
from models.messages import GenerationParams, Message


@dataclass(frozen=True)
class ToolStarted:
    """The model finished writing a call; `message` is the assistant call to append to the history."""

    message: Message


@dataclass(frozen=True)
class ToolRunning:
    """Heartbeat while a tool runs, so the page can show progress and a Stop can take effect."""

    call: Message
    seconds: float


@dataclass(frozen=True)
class ToolFinished:
    """A tool returned; `message` is the observation to append."""

    call: Message
    message: Message
    result: ToolResult
    seconds: float


@dataclass(frozen=True)
class Answer:
    """The final assistant message of the turn (partial when `stopped`)."""

    message: Message
    stopped: bool = False


@dataclass(frozen=True)
class TurnError:
    """The turn ended without an answer; messages appended so far stay valid."""

    text: str


AgentEvent = TextDelta | ToolCallDelta | ToolStarted | ToolRunning | ToolFinished | Answer | TurnError

HEARTBEAT_S = 0.25
STREAMED = (TextDelta, ToolCallDelta)


def run_turn(
    backend: ChatBackend,
    tools: Sequence[Tool],
    history: Sequence[Message],
    params: GenerationParams,
    ctx: ToolContext,
    max_steps: int,
) -> Iterator[AgentEvent]:
    """Run one user turn over `history` (which ends with the user's message).

    Closing the generator early (the page was interrupted) sets `ctx.cancel`, which stops the
    generation and any running tool. The token loop stays inline: it is the hot path.
    """
    messages = list(history)
    timer = StepTimer()
    calls_made = 0
    try:
        while True:
            text: list[str] = []
            calls: list[ToolCall] = []
            done = Done()
            streamed = 0
            try:
                for event in backend.stream(messages, tools, params, ctx.cancel):
                    if isinstance(event, STREAMED):
                        if not streamed:
                            timer.token()
                        streamed += 1
                        if type(event) is TextDelta:
                            text.append(event.text)
                        yield event
                    elif isinstance(event, ToolCall):
                        calls.append(event)
                    elif isinstance(event, Done):
                        done = event
            except Exception as exc:
                yield TurnError(f"The model failed: {type(exc).__name__}: {exc}")
                return
            if streamed > 1:
                timer.token(streamed - 1)
            if (end := _step_end("".join(text), calls, done, params, ctx, timer)) is not None:
                yield end
                return
            calls_made = yield from _run_calls(calls, calls_made, max_steps, messages, tools, ctx, timer)
            if calls_made < 0:
                return
            timer.model_step()
    except GeneratorExit:
        ctx.cancel.set()
        raise


def _step_end(
    text: str, calls: list[ToolCall], done: Done, params: GenerationParams, ctx: ToolContext, timer: StepTimer
) -> Answer | TurnError | None:
    """How a model step ends the turn, or None when its tool calls should run."""
    if done.finish_reason == "cancelled" or ctx.cancel.is_set():
        return Answer(Message("assistant", text, info={"timings": timer.to_dict(), "stopped": True}), True)
    if not calls:
        return Answer(Message("assistant", text, info={"timings": timer.to_dict()}))
    if done.finish_reason == "length":
        return TurnError(
            f"The model's call to {calls[0].name!r} was cut off at {params.max_new_tokens} new tokens "
            "and was not run. Raise 'Max new tokens' and retry."
        )
    return None


def _run_calls(
    calls: list[ToolCall],
    calls_made: int,
    max_steps: int,
    messages: list[Message],
    tools: Sequence[Tool],
    ctx: ToolContext,
    timer: StepTimer,
) -> Iterator[AgentEvent]:
    """Run the step's calls, appending each call and observation to `messages`.

    Returns the number of calls made in the turn so far, or -1 when the turn has ended.
    """
    for call in calls:
        if calls_made >= max_steps:
            yield TurnError(f"Stopped after {max_steps} tool calls in one turn (GLM_MAX_STEPS={max_steps}).")
            return -1
        calls_made += 1
        call_message = Message("assistant", call.text, metadata=call.name, tool_call_id=call.id)
        yield ToolStarted(call_message)
        started = time.monotonic()
        with timer.tool(call.name):
            result = yield from _run_tool(call, call_message, ctx, tools)
        seconds = time.monotonic() - started
        observation = Message(
            "observation",
            result.content,
            metadata=result.metadata,
            tool_call_id=call.id,
            attachments=result.attachments,
            info={**result.info, "seconds": round(seconds, 3), "is_error": result.is_error},
        )
        messages += [call_message, observation]
        yield ToolFinished(call_message, observation, result, seconds)
        if ctx.cancel.is_set():
            yield Answer(Message("assistant", "", info={"stopped": True}), True)
            return -1
    return calls_made


def _run_tool(
    call: ToolCall, call_message: Message, ctx: ToolContext, tools: Sequence[Tool]
) -> Iterator[ToolRunning]:
    """Dispatch in a worker thread, yielding heartbeats until it returns; returns the ToolResult."""
    outcome: queue.Queue[ToolResult] = queue.Queue(maxsize=1)
    worker = threading.Thread(
        target=lambda: outcome.put(dispatch(call.name, call.text, ctx, tools)),
        name=f"tool-{call.name}",
        daemon=True,
    )
    started = time.monotonic()
    worker.start()
    while True:
        try:
            return outcome.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            yield ToolRunning(call_message, time.monotonic() - started)
