"""The turn loop: model -> tool calls -> observations -> model, as a stream of typed events.

It knows nothing of Streamlit: pages render the events and append the messages they carry.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.timings import StepTimer
from app.tools.base import LiveOutput, Progress, Tool, ToolContext, ToolResult
from app.tools.registry import dispatch
from models.backends.base import ChatBackend
from models.errors import RequestRefused, ServerGone
from models.events import Done, Notice, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from models.fit import FitResult, fit_history
from models.messages import GenerationParams, Message
from models.protocols import GLM4, ChatProtocol


@dataclass(frozen=True)
class ToolStarted:
    """The model finished writing a call; `message` is the assistant call to append to the history.

    `preamble` is the text (and reasoning) the model wrote before the call in the same step; when
    set, append it before `message`. A step with several calls announces them all, in order, before
    the first runs; their observations follow in the same order (one `<|observation|>` turn for
    GLM-4.5+, one `tool` message per call for chat servers).
    """

    message: Message
    preamble: Message | None = None


@dataclass(frozen=True)
class ToolRunning:
    """Heartbeat while a tool runs, so the page can show progress and a Stop can take effect."""

    call: Message
    seconds: float
    progress: Progress = field(default_factory=Progress)


@dataclass(frozen=True)
class ToolOutput:
    """What the running tool has printed so far (bounded, head and tail: `LiveOutput`), sent with the
    next heartbeat whenever it changed; `ToolFinished` then carries the whole observation."""

    call: Message
    text: str


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
class HistoryTrimmed:
    """The conversation was cut to fit the context window for the next model step (display only:
    the history itself keeps everything)."""

    dropped_turns: int
    shortened_observations: int


@dataclass(frozen=True)
class TurnError:
    """The turn ended without an answer; messages appended so far stay valid.

    `refused`: the request itself can't be served (too long for the context window, refused by the
    server), so the turn is kept for the record but left out of what later turns send. `kind`, when
    set, names what happened for the UI, which says it in the user's language with `values` (the
    words are the UI's: `app/ui/i18n.py`, keys `model_error.{kind}`); `text` is then the bare facts,
    in English, for logs.
    """

    text: str
    refused: bool = False
    kind: str = ""
    values: dict[str, Any] = field(default_factory=dict)


AgentEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | ToolStarted
    | ToolRunning
    | ToolOutput
    | ToolFinished
    | HistoryTrimmed
    | Answer
    | TurnError
    | Notice
)

HEARTBEAT_S = 0.25
MIN_ANSWER_TOKENS = 128
"""The least room for an answer worth asking for: a turn that leaves less is refused before sending."""
STREAMED = (TextDelta, ReasoningDelta, ToolCallDelta)


def run_turn(
    backend: ChatBackend,
    tools: Sequence[Tool],
    history: Sequence[Message],
    params: GenerationParams,
    ctx: ToolContext,
    max_steps: int,
) -> Iterator[AgentEvent]:
    """Run one user turn over `history` (which ends with the user's message).

    Before each model step the history is fitted to the context window (`HistoryTrimmed` says
    when that cut anything). Closing the generator early (the page was interrupted) sets
    `ctx.cancel`, which stops the generation and any running tool. The token loop stays inline:
    it is the hot path.
    """
    messages = list(history)
    timer = StepTimer(count_tokens=backend.count_tokens, counted_by=token_source(backend))
    calls_made = 0
    trimmed = (0, 0)
    try:
        while True:
            fitted = _fit(backend, tools, messages, params)
            if isinstance(fitted, TurnError):
                yield fitted
                return
            step_params = _answer_room(backend.context_window, fitted.tokens, params)
            if fitted.trimmed and (fitted.dropped_turns, fitted.shortened_observations) != trimmed:
                trimmed = (fitted.dropped_turns, fitted.shortened_observations)
                yield HistoryTrimmed(*trimmed)
            text: list[str] = []
            reasoning: list[str] = []
            calls: list[ToolCall] = []
            done = Done()
            streamed = 0
            try:
                for event in backend.stream(fitted.messages, tools, step_params, ctx.cancel):
                    if isinstance(event, STREAMED):
                        if not streamed:
                            timer.token()
                        streamed += 1
                        if type(event) is TextDelta:
                            text.append(event.text)
                        elif type(event) is ReasoningDelta:
                            reasoning.append(event.text)
                        yield event
                    elif isinstance(event, ToolCall):
                        calls.append(event)
                    elif isinstance(event, Done):
                        done = event
                    elif isinstance(event, Notice):
                        yield event
            except Exception as exc:
                yield model_failure(exc)
                return
            if streamed > 1:
                timer.token(streamed - 1)
            answer, thought = "".join(text), "".join(reasoning).strip()
            timer.finish_step(done.usage, thought + answer + "".join(call.text for call in calls))
            if (end := _step_end(answer, thought, calls, done, step_params, ctx, timer)) is not None:
                yield end
                return
            preamble = Message("assistant", answer, reasoning=thought) if answer.strip() or thought else None
            calls_made = yield from _run_calls(
                calls, preamble, calls_made, max_steps, messages, tools, ctx, timer
            )
            if calls_made < 0:
                return
            timer.model_step()
    except GeneratorExit:
        ctx.cancel.set()
        raise


def token_source(backend: object) -> str:
    """What the backend's `count_tokens` is: "tokenizer" (the model's own) or "estimate"."""
    return getattr(backend, "token_source", "tokenizer")


def model_failure(exc: Exception) -> TurnError:
    """The error a failed model request ends the turn with: a refused request (too long, bad request),
    a server that can't be reached or went away mid-answer, or any other failure."""
    if isinstance(exc, RequestRefused) and exc.status < 500:
        return TurnError(str(exc), refused=True, kind=exc.kind, values=exc.values)
    if isinstance(exc, ServerGone):
        return TurnError(str(exc), kind=exc.kind, values=exc.values)
    why = f"{type(exc).__name__}: {exc}"
    return TurnError(why, kind="failed", values={"why": why})


def without_refused_turns(messages: Sequence[Message]) -> list[Message]:
    """The history to send: turns that ended refused (`info["refused"]` on their answer) are kept in the
    conversation for the record, but sending them again would only be refused again."""
    out: list[Message] = []
    turn: list[Message] = []
    for message in messages:
        if message.role == "user":
            out += turn
            turn = [message]
        elif turn:
            turn.append(message)
        else:
            out.append(message)
        if message.info.get("refused"):
            turn = []
    return out + turn


def _fit(
    backend: ChatBackend, tools: Sequence[Tool], messages: list[Message], params: GenerationParams
) -> FitResult | TurnError:
    """The history cut to (context window - max new tokens), or why even the current turn can't fit."""
    window = backend.context_window
    budget = window - params.max_new_tokens
    protocol: ChatProtocol = getattr(backend, "protocol", None) or GLM4
    overhead = backend.count_tokens(protocol.render([], tools, params.thinking))
    fitted = fit_history(messages, budget, backend.count_tokens, overhead)
    if fitted.tokens <= budget or window - fitted.tokens >= min(MIN_ANSWER_TOKENS, params.max_new_tokens):
        return fitted
    estimated = token_source(backend) == "estimate"
    values = {"tokens": fitted.tokens, "window": window, "room": max(window - fitted.tokens, 0)}
    return TurnError(
        f"prompt of {'about ' if estimated else ''}{fitted.tokens} tokens in a window of {window}",
        refused=True,
        kind="prompt_too_long_estimated" if estimated else "prompt_too_long",
        values=values,
    )


def _answer_room(window: int, prompt_tokens: int, params: GenerationParams) -> GenerationParams:
    """`params` with Max new tokens lowered to what the window leaves after a prompt that couldn't be cut
    further (the current turn itself is that long): a shorter answer rather than none."""
    room = window - prompt_tokens
    if room >= params.max_new_tokens:
        return params
    return dataclasses.replace(params, max_new_tokens=max(room, 1))


def _step_end(
    text: str,
    reasoning: str,
    calls: list[ToolCall],
    done: Done,
    params: GenerationParams,
    ctx: ToolContext,
    timer: StepTimer,
) -> Answer | TurnError | None:
    """How a model step ends the turn, or None when its tool calls should run."""
    info = {"timings": timer.to_dict(), "finish_reason": done.finish_reason}
    if done.finish_reason == "cancelled" or ctx.cancel.is_set():
        return Answer(Message("assistant", text, info={**info, "stopped": True}, reasoning=reasoning), True)
    if not calls:
        return Answer(Message("assistant", text, info=info, reasoning=reasoning))
    if done.finish_reason == "length":
        return TurnError(
            f"The model's call to {calls[0].name!r} was cut off at {params.max_new_tokens} new tokens "
            "and was not run. Raise 'Max new tokens' and retry."
        )
    return None


def _run_calls(
    calls: list[ToolCall],
    preamble: Message | None,
    calls_made: int,
    max_steps: int,
    messages: list[Message],
    tools: Sequence[Tool],
    ctx: ToolContext,
    timer: StepTimer,
) -> Iterator[AgentEvent]:
    """Run the step's calls: announce them all (after `preamble`), then run each in turn, appending
    the preamble, the calls and then their observations to `messages`.

    Returns the number of calls made in the turn so far, or -1 when the turn has ended.
    """
    allowed = calls[: max(0, max_steps - calls_made)]
    announced = [Message("assistant", c.text, metadata=c.name, tool_call_id=c.id) for c in allowed]
    for i, call_message in enumerate(announced):
        yield ToolStarted(call_message, preamble if i == 0 else None)
    messages += [preamble, *announced] if preamble else announced
    for call, call_message in zip(allowed, announced, strict=True):
        calls_made += 1
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
        messages.append(observation)
        yield ToolFinished(call_message, observation, result, seconds)
        if ctx.cancel.is_set():
            yield Answer(Message("assistant", "", info={"stopped": True}), True)
            return -1
    if len(allowed) < len(calls):
        yield TurnError(f"Stopped after {max_steps} tool calls in one turn (GLM_MAX_STEPS={max_steps}).")
        return -1
    return calls_made


def _run_tool(
    call: ToolCall, call_message: Message, ctx: ToolContext, tools: Sequence[Tool]
) -> Iterator[ToolRunning | ToolOutput]:
    """Dispatch in a worker thread, yielding heartbeats (after the output so far, when it changed)
    until it returns; returns the ToolResult. However fast the tool prints, the page gets at most one
    output event per heartbeat."""
    outcome: queue.Queue[ToolResult] = queue.Queue(maxsize=1)
    worker = threading.Thread(
        target=lambda: outcome.put(_dispatch_anything(call, ctx, tools)),
        name=f"tool-{call.name}",
        daemon=True,
    )
    started = time.monotonic()
    ctx.progress, ctx.output = Progress(), LiveOutput()
    shown: tuple[LiveOutput, int] = (ctx.output, 0)
    worker.start()
    while True:
        try:
            return outcome.get(timeout=HEARTBEAT_S)
        except queue.Empty:
            output = ctx.output  # a tool may replace it with one of its own bound
            version, text = output.read()
            if (output, version) != shown:
                shown = (output, version)
                yield ToolOutput(call_message, text)
            yield ToolRunning(call_message, time.monotonic() - started, ctx.progress)


def _dispatch_anything(call: ToolCall, ctx: ToolContext, tools: Sequence[Tool]) -> ToolResult:
    """`dispatch`, turning even SystemExit or KeyboardInterrupt (argparse in a user's tool) into an
    observation: escaping, they would end the worker thread and leave the turn waiting forever."""
    try:
        return dispatch(call.name, call.text, ctx, tools)
    except BaseException as exc:
        return ToolResult(
            f"Tool {call.name!r} raised {type(exc).__name__}({exc}) instead of returning a result.",
            "system_error",
            is_error=True,
        )
