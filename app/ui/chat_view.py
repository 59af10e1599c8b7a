"""Streamlit rendering shared by the chat pages: history, tool steps, the live turn, sidebar controls."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from app.agent import (
    AgentEvent,
    Answer,
    HistoryTrimmed,
    ToolFinished,
    ToolOutput,
    ToolRunning,
    ToolStarted,
    TurnError,
)
from app.timings import format_timings
from app.tools.base import Progress
from app.tools.browser.citations import escape_markdown, link, render_citations, render_live_citations
from app.turn import TurnBuffer
from app.ui import session
from app.ui.conversations_view import conversation_sidebar
from app.ui.files_view import read_download
from app.ui.i18n import plural, said_key, said_kind, t
from app.ui.images_view import show_image
from app.ui.live_text import CallPreview, OutputPreview
from app.ui.render import SafeMarkdownStream, safe_markdown
from app.ui.session import ConversationState
from models.events import Done, Notice, ReasoningDelta, TextDelta, ToolCallDelta
from models.messages import Attachment, GenerationParams, Message
from models.threads import DEFAULT_MAX_NEW_TOKENS

REASONING_REFRESH = 16
CALL_LANGUAGE = {"python": "python", "simple_browser": "python", "cogview": "text"}
MAX_OBSERVATION_SHOWN = 20_000
TIMING_WORDS = ("first_token", "took", "total", "server", "tokenizer", "estimate", "chunks")


def generation_controls(
    prefix: str, max_new_default: int = DEFAULT_MAX_NEW_TOKENS, thinking_switch: bool = True
) -> GenerationParams:
    """Sidebar controls for generation, kept per workspace: the thinking switch (for models that
    reason first, GLM-4.5+) and the sampling settings; `max_new_default` suits the model
    (`models.threads.max_new_tokens_for`: a tiny in-process model gets a short default)."""
    thinking = True
    if thinking_switch:
        thinking = st.sidebar.toggle(
            t("sidebar.thinking"), value=True, key=f"{prefix}-thinking", help=t("sidebar.thinking_help")
        )
    with st.sidebar.expander(t("gen.title"), expanded=False):
        temperature = st.slider(t("gen.temperature"), 0.0, 1.5, 0.8, 0.05, key=f"{prefix}-temperature")
        top_p = st.slider(t("gen.top_p"), 0.05, 1.0, 0.8, 0.05, key=f"{prefix}-top-p")
        max_new = st.number_input(t("gen.max_new"), 16, 32768, max_new_default, 64, key=f"{prefix}-max-new")
    return GenerationParams(
        temperature=temperature, top_p=top_p, max_new_tokens=int(max_new), thinking=thinking
    )


@dataclass(frozen=True)
class Controls:
    """What the shared sidebar asks for: Retry clicked, the system prompt as messages, sampling."""

    retry: bool
    system: list[Message]
    params: GenerationParams


def workspace_controls(
    workspace: str,
    state: ConversationState,
    max_new_default: int = DEFAULT_MAX_NEW_TOKENS,
    thinking_switch: bool = True,
) -> Controls:
    """The sidebar every workspace shares: its conversations, Retry, a system prompt, the thinking
    switch (where the workspace's model can take it) and sampling."""
    with st.sidebar:
        conversation_sidebar(workspace, state)
        retry = st.button(
            ":material/refresh: " + t("chat.retry"), use_container_width=True, disabled=not state.messages
        )
        prompt = st.text_area(
            t("chat.system_prompt"), key=f"{workspace}-system", placeholder=t("chat.system_placeholder")
        )
        params = generation_controls(workspace, max_new_default, thinking_switch)
    return Controls(retry, [Message("system", prompt)] if prompt.strip() else [], params)


def stop_button() -> None:
    """Clicking it reruns the page, interrupting the turn; the next run keeps its partial answer."""
    st.button(":material/stop_circle: " + t("chat.stop"), key="stop")


def edit_last_question(state: ConversationState) -> str | None:
    """An editor for the last question; returns the new text when the user resends it."""
    last = next((m for m in reversed(state.messages) if m.role == "user"), None)
    if last is None:
        return None
    with st.expander(":material/edit: " + t("chat.edit")), st.form(f"edit-{state.workspace}", border=False):
        text = st.text_area(t("chat.question"), last.content, label_visibility="collapsed")
        if st.form_submit_button(t("chat.resend")) and text.strip():
            return text
    return None


def render_answer(text: str, tool_state: dict[str, Any]) -> None:
    st.markdown(safe_markdown(render_citations(text, tool_state)))


def message_notes(message: Message) -> None:
    """What the app says under an answer, the same on every page, live and replayed: the turn's
    error, a stop, a cut at the max new tokens, a history trimmed to fit, the step timings."""
    info = message.info
    if info.get("notice"):
        st.info(notice_said(info), icon=":material/info:")
    if info.get("error"):
        st.error(safe_markdown(error_said(info)), icon=":material/error:")
    if info.get("stopped"):
        st.caption(":material/stop_circle: " + t("chat.stopped"))
    if info.get("interrupted"):
        st.caption(f":material/sync_problem: {t('turn.interrupted')}")
    if info.get("finish_reason") == "length":
        st.caption(":material/content_cut: " + t("chat.cut_off"))
    if trimmed := info.get("trimmed"):
        _trimmed_caption(trimmed)
    if timings := format_timings(info.get("timings") or {}, timing_words()):
        st.caption(timings)


def _trimmed_caption(trimmed: dict[str, int]) -> None:
    """The note for a history cut to fit (`HistoryTrimmed`, kept as the answer's `info["trimmed"]`)."""
    parts = []
    if turns := trimmed.get("dropped_turns"):
        parts.append(plural("chat.trimmed_turns", turns))
    if observations := trimmed.get("shortened_observations"):
        parts.append(plural("chat.trimmed_outputs", observations))
    st.caption(":material/history: " + t("chat.trimmed", what=t("common.and").join(parts)))


def timing_words() -> dict[str, str]:
    """The words of `format_timings` in the session's language."""
    return {word: t(f"timings.{word}") for word in TIMING_WORDS}


def show_flashes(state: ConversationState) -> None:
    """Errors kept for this run: a Retry that failed (the old answer stays), a turn not saved."""
    for text in session.take_flashes(state):
        st.error(safe_markdown(text), icon=":material/error:")


def fail_turn(turn: TurnBuffer, error: TurnError | str) -> None:
    """The turn ends on this error: shown now in the session's language, and kept with the turn (with
    its kind, so a replay says it in the language of the day; `refused`: see `TurnBuffer.fail`)."""
    if isinstance(error, str):
        error = TurnError(error)
    text = said_kind(error.kind, error.values, error.text)
    turn.fail(text, error.refused, error.kind, error.values)
    st.error(safe_markdown(text), icon=":material/error:")


def error_said(info: dict[str, Any]) -> str:
    """A stored turn's error in the session's language (as it was stored when its kind is unknown)."""
    return said_kind(info.get("error_kind", ""), info.get("error_values") or {}, info["error"])


def notice_said(info: dict[str, Any]) -> str:
    """A stored turn's notice (how the request was served) in the session's language."""
    return said_key(info.get("notice_key", ""), info.get("notice_values") or {}, info["notice"])


def _attachment_bytes(item: Attachment) -> bytes:
    """A file kept with the message (an SVG output), read when its download is clicked."""
    if (data := item.data) is None:
        raise FileNotFoundError(f"{item.name} is no longer stored")
    return data


def render_attachments(attachments: Iterable[Attachment], key: str, files: Path | None = None) -> None:
    """Images inline (a placeholder for one that can't be shown); files as downloads, read on click
    from the store or from `files` (the conversation's folder)."""
    for i, item in enumerate(attachments):
        if item.kind == "image":
            show_image(item.data, item.name)
        elif item.kind == "file" and (item.held is not None or item.blob):
            st.download_button(
                escape_markdown(item.name),
                partial(_attachment_bytes, item),
                item.name,
                item.mime,
                key=f"{key}-file-{i}",
                on_click="ignore",
                icon=":material/download:",
            )
        elif item.kind == "file" and item.path and files is not None:
            st.download_button(
                escape_markdown(item.name),
                partial(read_download, files, item.path),
                file_name=Path(item.path).name,
                mime=item.mime,
                key=f"{key}-file-{i}",
                on_click="ignore",
                icon=":material/download:",
            )


def _cut_short(observation: Message) -> bool:
    """A call stopped by the user or left by a reload before it returned (whatever it printed until
    then is its `info["output"]`)."""
    return bool(observation.info.get("stopped") or observation.info.get("interrupted"))


def _step_label(call: Message, observation: Message | None) -> str:
    """The tool's name and how long it ran, after an icon for what it is; the state icon `st.status`
    draws before it says how it ended (so an error is not marked twice). A call cut short says only
    "stop" (or "reload") in its icon: the turn's note under the answer says it in words, once."""
    name = escape_markdown(call.metadata)
    if observation is None:
        return f":material/build: {name}"
    seconds = observation.info.get("seconds")
    took = f" · {seconds:.2f} s" if isinstance(seconds, int | float) else ""
    icon = ":material/build:"
    if observation.info.get("stopped"):
        icon = ":material/stop_circle:"
    elif observation.info.get("interrupted"):
        icon = ":material/sync_problem:"
    return f"{icon} {name}{took}"


def _step_state(observation: Message | None) -> str:
    if observation is not None and (observation.info.get("is_error") or _cut_short(observation)):
        return "error"
    return "complete"


def _render_browsing(info: dict[str, Any]) -> None:
    """What the browser searched for, opened and failed to open, with links to the sources."""
    lines = [f"- {t('browse.searched', query=escape_markdown(query))}" for query in info.get("searched", [])]
    for page in info.get("opened", []):
        source = link(page.get("title") or page["url"], page["url"])
        lines.append(f"- {t('browse.opened', id=page['id'], source=source)}")
    for failure in info.get("failed", []):
        what = escape_markdown(str(failure.get("url") or failure.get("query") or "?"))
        why = escape_markdown(str(failure.get("error", "")))
        lines.append(f"- {t('browse.failed', what=what, why=why)}")
    if lines:
        st.markdown("\n".join(lines))


def generated_images(messages: Iterable[Message]) -> list[Attachment]:
    """What the turn's tools produced for the user, which shows under the answer: CogView's pictures,
    the code interpreter's plots and the files its cells wrote (the step keeps its full output too)."""
    return [
        attachment
        for message in messages
        if message.role == "observation"
        for attachment in message.attachments
        if (attachment.kind == "image" and attachment.data) or attachment.kind == "file"
    ]


def render_generated_images(messages: Iterable[Message], key: str = "out", files: Path | None = None) -> None:
    """The turn's tool outputs (`generated_images`) under its answer: images, then files to download."""
    outputs = generated_images(messages)
    for attachment in outputs:
        if attachment.kind == "image":
            show_image(attachment.data, attachment.name or "")
    render_attachments([a for a in outputs if a.kind == "file"], key, files)


def _render_progress(box: Any, progress: Progress) -> None:
    """A tool's reported progress (`ToolRunning.progress`): a bar over counted steps, else a note."""
    if progress.stage == "steps" and progress.total:
        text = t("cogview.progress.steps", done=progress.done, total=progress.total)
        box.progress(min(progress.done / progress.total, 1.0), text=text)
    elif progress.stage == "waiting":
        box.info(plural("cogview.progress.waiting", progress.done), icon=":material/hourglass_top:")
    elif progress.stage in ("loading", "requesting", "downloading"):
        box.caption(t(f"cogview.progress.{progress.stage}"))


def _render_output_so_far(output: str, caption: str) -> None:
    """What a running or cut-short call printed (bounded by the loop like a finished observation)."""
    if output.strip():
        st.caption(caption)
        st.code(output, language="text", wrap_lines=True)
    else:
        st.caption(t("step.no_output"))


def _render_observation(observation: Message, key: str, files: Path | None) -> None:
    if _cut_short(observation) and "output" in observation.info:
        _render_output_so_far(str(observation.info["output"]), t("step.output_partial"))
        render_attachments(observation.attachments, key, files)
        return
    _render_browsing(observation.info)
    text = observation.content
    if len(text) > MAX_OBSERVATION_SHOWN:
        more = len(observation.content) - MAX_OBSERVATION_SHOWN
        text = text[:MAX_OBSERVATION_SHOWN] + "\n" + t("chat.more_characters", n=f"{more:,}")
    st.caption(t("chat.observation"))
    st.code(text, language="text", wrap_lines=True)
    if not observation.info.get("image"):
        render_attachments(observation.attachments, key, files)


def render_tool_step(call: Message, observation: Message | None, key: str, files: Path | None = None) -> None:
    # A call cut short stays open: what it printed until then is what the user stopped it to see.
    expanded = observation is not None and _cut_short(observation)
    with st.status(_step_label(call, observation), state=_step_state(observation), expanded=expanded):
        st.code(call.content, language=CALL_LANGUAGE.get(call.metadata, "json"), wrap_lines=True)
        if observation is not None:
            _render_observation(observation, key, files)


def render_history(messages: list[Message], tool_state: dict[str, Any], files: Path | None = None) -> None:
    """Replay the conversation: each user message, then one assistant bubble per turn."""
    i = 0
    while i < len(messages):
        message = messages[i]
        if message.role == "user":
            with st.chat_message("user"):
                st.markdown(safe_markdown(message.content))
                render_attachments(message.attachments, f"m{i}", files)
            i += 1
            continue
        with st.chat_message("assistant"):
            start = i
            while i < len(messages) and messages[i].role != "user":
                i = _render_assistant_part(messages, i, tool_state, files)
            render_generated_images(messages[start:i], f"out{start}", files)


def _render_assistant_part(
    messages: list[Message], i: int, tool_state: dict[str, Any], files: Path | None
) -> int:
    message = messages[i]
    if message.is_tool_call:
        return _render_tool_steps(messages, i, files)
    if message.role == "assistant":
        render_reasoning(message)
        if message.content:
            render_answer(message.content, tool_state)
        message_notes(message)
    elif message.role == "observation":
        _render_observation(message, f"m{i}", files)
    return i + 1


def _render_tool_steps(messages: list[Message], i: int, files: Path | None) -> int:
    """One model step's calls (from `i` on) each with its observation: a step's calls come first,
    then their observations in the same order (paired by call id where there are ids)."""
    end = i
    while end < len(messages) and messages[end].is_tool_call:
        end += 1
    after = end
    while after < len(messages) and messages[after].role == "observation" and after - end < end - i:
        after += 1
    observations = list(range(end, after))
    by_id = {messages[o].tool_call_id: o for o in observations if messages[o].tool_call_id}
    for n, at in enumerate(range(i, end)):
        call = messages[at]
        match = by_id.get(call.tool_call_id) if call.tool_call_id else None
        if match is None and n < len(observations):
            match = observations[n]
        render_tool_step(call, messages[match] if match is not None else None, f"m{at}", files)
    return after


def show_stream(pieces: Iterable[str], transform: Callable[[str], str] | None = None) -> None:
    """Streamed Markdown, shown whole after each piece through the one rule (`render.safe_markdown`),
    so a link whose destination arrives in a later piece is judged with it; `transform` makes the
    text so far the Markdown to show (citations as links), as replay does with the whole answer."""
    box = st.empty()
    safe = SafeMarkdownStream(transform)
    for piece in pieces:
        if piece:
            box.markdown(safe.feed(piece))


def answer_text(
    events: Iterable[TextDelta | Done], turn: TurnBuffer, info: dict[str, Any] | None = None
) -> Iterator[str]:
    """A model's streamed answer for `show_stream`; the finished message, with its timings,
    goes to `turn` (a stop keeps the partial answer, timed, through `turn.close`)."""
    for event in events:
        if isinstance(event, TextDelta):
            turn.stream(event.text)
            yield event.text
        elif isinstance(event, Done):
            turn.timer.finish_step(event.usage)
            done = {**(info or {}), "finish_reason": event.finish_reason, **event.usage}
            done["timings"] = turn.timer.to_dict()
            if event.finish_reason == "cancelled":
                done["stopped"] = True
            turn.add_streamed_answer(done)


def stream_answer(
    events: Iterable[TextDelta | ReasoningDelta | Done],
    turn: TurnBuffer,
    info: dict[str, Any] | None = None,
    transform: Callable[[str], str] | None = None,
) -> None:
    """Show a thinking model's reasoning in a collapsible box as it comes, then stream the answer
    (`transform`: as for `show_stream`)."""
    events = iter(events)
    event = next(events, None)
    reasoning: list[str] = []
    if isinstance(event, ReasoningDelta):
        event = _live_reasoning(event, events, turn, reasoning)
    if reasoning:
        info = {**(info or {}), "reasoning": "".join(reasoning)}
    rest = itertools.chain([event] if event is not None else [], events)
    show_stream(answer_text(rest, turn, info), transform)


def _live_reasoning(event: Any, events: Iterator[Any], turn: TurnBuffer, reasoning: list[str]) -> Any:
    """Show reasoning as it streams, in an open "Thinking" box; returns the first other event."""
    with st.expander(f":material/psychology: {t('chat.thinking')}", expanded=True):
        box = st.empty()
        while isinstance(event, ReasoningDelta):
            turn.tick(event.text)
            reasoning.append(event.text)
            if len(reasoning) % REASONING_REFRESH == 1:
                box.markdown(safe_markdown("".join(reasoning)))
            event = next(events, None)
        box.markdown(safe_markdown("".join(reasoning)))
    return event


def render_reasoning(message: Message) -> None:
    """A message's reasoning (GLM-4.5+ text models keep it on the message, vision models in `info`)."""
    if reasoning := message.reasoning or message.info.get("reasoning"):
        with st.expander(f":material/psychology: {t('chat.thinking')}"):
            st.markdown(safe_markdown(reasoning))


def stream_turn(
    events: Iterator[AgentEvent],
    turn: TurnBuffer,
    files: Path | None = None,
    tool_state: dict[str, Any] | None = None,
) -> None:
    """Render a live turn inside the assistant bubble, keeping what it produced in `turn`.

    Text streams with `show_stream`, its browser citations as links from the conversation's
    `tool_state` as they complete; each tool call gets an `st.status` that shows the call
    as it is written, a running clock, then the observation. An error is kept with the turn.
    """
    cited = partial(render_live_citations, tool_state=tool_state) if tool_state is not None else None
    event: AgentEvent | None = next(events, None)
    while event is not None:
        if isinstance(event, TextDelta):
            rest: list[AgentEvent] = []
            show_stream(_text_until_other(event, events, turn, rest), cited)
            event = rest[0] if rest else None
        elif isinstance(event, ReasoningDelta):
            event = _live_reasoning(event, events, turn, [])
        elif isinstance(event, ToolCallDelta | ToolStarted):
            event = _live_tool_steps(event, events, turn, files)
        elif isinstance(event, Answer):
            turn.add(event.message)
            message_notes(event.message)
            event = next(events, None)
        elif isinstance(event, TurnError):
            fail_turn(turn, event)
            event = next(events, None)
        elif isinstance(event, Notice):
            turn.note(notice=t(event.key, **event.values), notice_key=event.key, notice_values=event.values)
            st.info(t(event.key, **event.values), icon=":material/info:")
            event = next(events, None)
        elif isinstance(event, HistoryTrimmed):
            trimmed = asdict(event)
            turn.note(trimmed=trimmed)
            _trimmed_caption(trimmed)
            event = next(events, None)
        else:
            event = next(events, None)
    render_generated_images(turn.messages, "outlive", files)


def _text_until_other(
    first: TextDelta, events: Iterator[AgentEvent], turn: TurnBuffer, rest: list[AgentEvent]
) -> Iterator[str]:
    turn.stream(first.text)
    yield first.text
    for event in events:
        if not isinstance(event, TextDelta):
            rest.append(event)
            break
        turn.stream(event.text)
        yield event.text


@dataclass
class _LiveStep:
    """One tool call on screen while it is written, runs and returns."""

    name: str
    status: Any
    code_box: Any
    clock: Any
    progress: Any
    output_box: Any
    written: CallPreview
    printed: OutputPreview
    call: Message | None = None

    @classmethod
    def open(cls, name: str) -> _LiveStep:
        status = st.status(":material/build: " + t("step.writing", name=escape_markdown(name)), expanded=True)
        # Not `with status:` here: leaving that block marks the step complete (a check mark, collapsed)
        # while it is still being written and run.
        code_box, clock, progress, output_box = status.empty(), status.empty(), status.empty(), status.empty()
        return cls(name, status, code_box, clock, progress, output_box, CallPreview(), OutputPreview())

    def show_code(self, text: str) -> None:
        self.code_box.code(text, language=CALL_LANGUAGE.get(self.name, "json"), wrap_lines=True)

    def show_output(self, text: str | None) -> None:
        """The output so far, when the throttle (`OutputPreview`) hands some out."""
        if text is not None:
            with self.output_box.container():
                _render_output_so_far(text, t("step.output_live"))


def _live_tool_steps(
    event: AgentEvent, events: Iterator[AgentEvent], turn: TurnBuffer, files: Path | None
) -> AgentEvent | None:
    """Show a model step's tool calls from their first written character to their observations.

    A step may carry several calls: they are written (deltas numbered by `index`), announced
    (`ToolStarted`, in order), then run one after another (`ToolRunning`, `ToolFinished`).
    """
    steps: list[_LiveStep] = []
    started = finished = 0
    while event is not None:
        if isinstance(event, ToolCallDelta):
            turn.tick(event.text)
            while len(steps) <= event.index:
                steps.append(_LiveStep.open(event.name))
            step = steps[event.index]
            if (shown := step.written.add(event.text)) is not None:
                step.show_code(shown)
        elif isinstance(event, ToolStarted):
            if event.preamble is not None:
                turn.add(event.preamble)
            turn.add(event.message)
            if started == len(steps):
                steps.append(_LiveStep.open(event.message.metadata))
            step = steps[started]
            started += 1
            step.call, step.name = event.message, event.message.metadata
            step.show_code(event.message.content)
            running = ":material/build: " + t("step.running", name=escape_markdown(step.name))
            step.status.update(label=running, expanded=True)  # without `expanded`, the box folds
        elif isinstance(event, ToolOutput):
            turn.tool_running(event.call, output=event.text)
            if step := _step_of(steps, event.call):
                step.show_output(step.printed.add(event.text))
        elif isinstance(event, ToolRunning):
            turn.tool_running(event.call, seconds=event.seconds)
            if step := _step_of(steps, event.call):
                step.clock.caption(":material/timer: " + t("step.clock", seconds=f"{event.seconds:.1f}"))
                _render_progress(step.progress, event.progress)
                step.show_output(step.printed.pending())
        elif isinstance(event, ToolFinished):
            turn.add(event.message)
            finished += 1
            if step := _step_of(steps, event.call):
                step.clock.empty()
                step.progress.empty()
                step.output_box.empty()
                with step.status:
                    _render_observation(event.message, f"live{len(turn.messages)}", files)
                step.status.update(
                    label=_step_label(event.call, event.message),
                    state=_step_state(event.message),
                    expanded=False,
                )
            if finished >= started:
                return next(events, None)
        else:
            return event
        event = next(events, None)
    return None


def _step_of(steps: list[_LiveStep], call: Message) -> _LiveStep | None:
    return next((s for s in steps if s.call is call), None)
