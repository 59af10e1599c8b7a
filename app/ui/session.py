"""Typed access to what a browser session owns (`st.session_state`) and what the process shares
(`st.cache_resource`: loaded models, the conversation store)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.config import data_dir
from app.sandbox import watch as watch_kernel
from app.store import ConversationNotFound, Store, new_conversation_id
from app.timings import StepTimer
from app.tools.base import ToolContext
from app.turn import TurnBuffer, produced_nothing
from app.ui.gate import require_user, require_valid_settings, through_navigation
from app.ui.i18n import t
from models.backends import BackendLoadError, ChatBackend, get_text_backend
from models.messages import Message
from models.settings import ModelSettings
from models.vision import VisionBackend, VisionLoadError, get_vision_backend

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _open_store(root: str) -> Store:
    return Store(Path(root))


def store() -> Store:
    """The conversation store under `GLM_DATA_DIR`, opened once per process."""
    return _open_store(str(data_dir()))


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_text_backend(settings: ModelSettings) -> ChatBackend:
    return get_text_backend(settings)


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_vision_backend(settings: ModelSettings) -> VisionBackend:
    return get_vision_backend(settings)


@st.cache_resource(show_spinner=False)
def _load_failures() -> dict[tuple[str, ModelSettings], str]:
    """Why a model failed to load, kept per process so a rerun doesn't retry (and wait) again."""
    return {}


def _load_model(kind: str, label: str, settings: ModelSettings, load: Callable[[], T]) -> T | None:
    failures, key = _load_failures(), (kind, settings)
    if key not in failures:
        try:
            with st.spinner(t("model.loading", model=label)):
                return load()
        except (BackendLoadError, VisionLoadError) as exc:
            failures[key] = str(exc)
    st.error(failures[key], icon=":material/error:")
    if st.button(t("model.retry_load"), key=f"reload-{kind}"):
        failures.pop(key, None)
        st.rerun()
    return None


def text_backend() -> ChatBackend | None:
    """The configured text model, loaded once per process; says why when it can't be loaded."""
    settings = ModelSettings.from_env()
    where = settings.api_base if settings.backend == "openai" else t("model.in_process")
    return _load_model("text", f"{settings.model} ({where})", settings, lambda: _load_text_backend(settings))


def vision_backend() -> VisionBackend | None:
    """The configured vision model, loaded once per process and kept across page switches."""
    settings = ModelSettings.from_env()
    where = settings.api_base if settings.backend == "openai" else t("model.in_process")
    label = f"{settings.vision_model} ({where})"
    return _load_model("vision", label, settings, lambda: _load_vision_backend(settings))


def user_id() -> str:
    """The signed-in user (`app/ui/gate.py`); a run without one shows the sign-in form and stops."""
    return require_user()


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return st.session_state["session_id"]


def session_dir(state: ConversationState) -> Path:
    """The open conversation's working folder (the code interpreter's /mnt/data): a new chat gets an
    empty one, a reopened conversation finds its uploads and produced files."""
    return store().conversation_workdir(user_id(), state.id)


def _browser_alive() -> Callable[[], bool]:
    """Whether this browser session is still connected, asked of Streamlit's runtime (always True
    where there is none, as under AppTest)."""
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return lambda: True
    runtime, streamlit_session = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(streamlit_session)


@dataclass
class ConversationState:
    """The open conversation of one workspace in this browser session.

    Its id is chosen when it opens, so its folder exists from the start; `saved` says whether the
    store has it yet (the first finished turn creates it).
    """

    workspace: str
    id: str = field(default_factory=new_conversation_id)
    saved: bool = False
    messages: list[Message] = field(default_factory=list)
    tool_state: dict[str, Any] = field(default_factory=dict)
    turn: TurnBuffer | None = None
    replaced: list[Message] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def tool_context(self) -> ToolContext:
        """Tools run in this conversation's folder, with this browser session's kernel, which is
        shut down once the browser has gone."""
        self.cancel = threading.Event()
        watch_kernel(session_id(), _browser_alive())
        return ToolContext(session_id(), session_dir(self), self.tool_state, self.cancel)


def conversation(workspace: str) -> ConversationState:
    """The workspace's open conversation, reopened from the URL (`?c=id`) after a reload."""
    through_navigation()
    require_user()
    require_valid_settings()
    key = f"conversation:{workspace}"
    state: ConversationState = st.session_state.setdefault(key, ConversationState(workspace))
    wanted = st.query_params.get("c")
    if wanted and wanted != state.id:
        try:
            stored = store().load_conversation(user_id(), wanted)
        except ConversationNotFound:
            st.query_params.pop("c", None)
            st.warning(t("conv.not_found"))
        else:
            if stored.workspace == workspace:
                state = ConversationState(workspace, stored.id, True, stored.messages, stored.tool_state)
                st.session_state[key] = state
    elif state.saved and not wanted:
        st.query_params["c"] = state.id
    return state


def new_conversation(workspace: str) -> None:
    st.session_state[f"conversation:{workspace}"] = ConversationState(workspace)
    st.query_params.pop("c", None)


def begin_turn(
    state: ConversationState, user_message: Message, count_tokens: Callable[[str], int] | None = None
) -> TurnBuffer:
    """Start a turn: the user's message joins the view; nothing is written until the turn ends.

    The turn's timer starts now (time to first token counts from the request); `count_tokens` is the
    backend's counter, for speeds in tokens when the server reports no usage.
    """
    state.turn = TurnBuffer([user_message], StepTimer(count_tokens=count_tokens))
    return state.turn


def last_turn_start(messages: list[Message]) -> int | None:
    """Index of the last user message: where the newest turn begins."""
    return next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)


def begin_retry(state: ConversationState) -> Message | None:
    """Take the last turn off the view; its user message starts the new turn, which replaces it
    (unless the new one produces nothing: then the old turn comes back, see `end_turn`)."""
    start = last_turn_start(state.messages)
    if start is None:
        return None
    user_message = state.messages[start]
    state.replaced = state.messages[start:]
    del state.messages[start:]
    return user_message


def next_user_message(
    state: ConversationState, new: Message | None, retry: bool, edited: str | None
) -> Message | None:
    """The message that starts this run's turn: a new one, a retry, or the last question edited
    (keeping its attachments)."""
    if retry:
        return begin_retry(state)
    if edited is not None and (original := begin_retry(state)) is not None:
        return Message("user", edited, attachments=original.attachments)
    return new


def ensure_saved(state: ConversationState) -> None:
    """Create the conversation in the store (and put it in the URL) if this is its first write."""
    if not state.saved:
        store().create_conversation(user_id(), state.workspace, conversation_id=state.id)
        state.saved = True
        st.query_params["c"] = state.id


def end_turn(state: ConversationState, turn: TurnBuffer) -> None:
    """Write the finished (or stopped) turn in one transaction and show it; once, whichever run asks first.

    A Retry or edit that produced nothing (an error, or a stop before the first token) keeps the turn
    it was to replace, and says why once. A turn that can't be written stays in view, with the reason.
    """
    if state.turn is turn:
        state.turn = None
    messages = turn.close()
    if not messages:
        return
    replaced, state.replaced = state.replaced, None
    if replaced is not None and produced_nothing(messages):
        state.messages.extend(replaced)
        errors = [m.info["error"] for m in messages if m.info.get("error")]
        why = errors[0] if errors else t("turn.stopped_early")
        flash(state, f"{why}\n\n{t('turn.previous_kept')}")
        return
    state.messages.extend(messages)
    try:
        ensure_saved(state)
        db, user = store(), user_id()
        if replaced is not None:
            db.replace_last_turn(user, state.id, messages, state.tool_state)
        else:
            db.append_turn(user, state.id, messages, state.tool_state)
    except ConversationNotFound:
        flash(state, t("turn.unsaved_deleted"))
    except (sqlite3.Error, OSError) as exc:
        flash(state, t("turn.unsaved", why=f"{type(exc).__name__}: {exc}"))


def flash(state: ConversationState, text: str) -> None:
    """An error to show once, on the workspace's next run (the page reruns right after a turn)."""
    st.session_state.setdefault(f"flash:{state.workspace}", []).append(text)


def per_conversation(state: ConversationState, name: str, default: T) -> T:
    """Browser-session state that belongs to the open conversation (New chat starts afresh), kept
    under `<workspace>-<name>:<conversation id>`."""
    return st.session_state.setdefault(f"{state.workspace}-{name}:{state.id}", default)


def take_flashes(state: ConversationState) -> list[str]:
    return st.session_state.pop(f"flash:{state.workspace}", [])


def interrupted_turn(state: ConversationState) -> bool:
    """A turn the previous script run didn't finish (Stop, or a new input): keep what it produced."""
    if state.turn is None:
        return False
    state.cancel.set()
    end_turn(state, state.turn)
    return True
