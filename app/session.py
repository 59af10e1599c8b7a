"""Typed access to what a browser session owns (`st.session_state`) and what the process shares
(`st.cache_resource`: loaded models, the conversation store)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from app.auth import LOCAL_USER
from app.config import data_dir
from app.store import ConversationNotFound, Store, new_conversation_id
from app.tools.base import ToolContext
from app.turn import TurnBuffer
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
            with st.spinner(f"Loading {label}…"):
                return load()
        except (BackendLoadError, VisionLoadError) as exc:
            failures[key] = str(exc)
    st.error(failures[key], icon=":material/error:")
    if st.button("Try loading again", key=f"reload-{kind}"):
        failures.pop(key, None)
        st.rerun()
    return None


def text_backend() -> ChatBackend | None:
    """The configured text model, loaded once per process; says why when it can't be loaded."""
    settings = ModelSettings.from_env()
    where = settings.api_base if settings.backend == "openai" else "in-process"
    return _load_model("text", f"{settings.model} ({where})", settings, lambda: _load_text_backend(settings))


def vision_backend() -> VisionBackend | None:
    """The configured vision model, loaded once per process and kept across page switches."""
    settings = ModelSettings.from_env()
    where = settings.api_base if settings.backend == "openai" else "in-process"
    label = f"{settings.vision_model} ({where})"
    return _load_model("vision", label, settings, lambda: _load_vision_backend(settings))


def user_id() -> str:
    return st.session_state.get("user_id", LOCAL_USER)


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return st.session_state["session_id"]


def session_dir() -> Path:
    """This browser session's private folder (the code interpreter's /mnt/data)."""
    path = store().user_dir(user_id()) / "sessions" / session_id()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


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
    replacing: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)

    def tool_context(self) -> ToolContext:
        self.cancel = threading.Event()
        return ToolContext(session_id(), session_dir(), self.tool_state, self.cancel)


def conversation(workspace: str) -> ConversationState:
    """The workspace's open conversation, reopened from the URL (`?c=id`) after a reload."""
    key = f"conversation:{workspace}"
    state: ConversationState = st.session_state.setdefault(key, ConversationState(workspace))
    wanted = st.query_params.get("c")
    if wanted and wanted != state.id:
        try:
            stored = store().load_conversation(user_id(), wanted)
        except ConversationNotFound:
            st.query_params.pop("c", None)
            st.warning("That conversation doesn't exist or isn't yours.")
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


def begin_turn(state: ConversationState, user_message: Message) -> TurnBuffer:
    """Start a turn: the user's message joins the view; nothing is written until the turn ends."""
    state.turn = TurnBuffer([user_message])
    return state.turn


def last_turn_start(messages: list[Message]) -> int | None:
    """Index of the last user message: where the newest turn begins."""
    return next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)


def begin_retry(state: ConversationState) -> Message | None:
    """Take the last turn off the view; its user message starts the new turn, which replaces it."""
    start = last_turn_start(state.messages)
    if start is None:
        return None
    user_message = state.messages[start]
    del state.messages[start:]
    state.replacing = True
    return user_message


def next_user_message(
    state: ConversationState, prompt: str | None, retry: bool, edited: str | None
) -> Message | None:
    """The message that starts this run's turn: a new question, a retry, or an edited last question."""
    if retry:
        return begin_retry(state)
    if edited is not None and begin_retry(state) is not None:
        return Message("user", edited)
    return Message("user", prompt) if prompt else None


def ensure_saved(state: ConversationState) -> None:
    """Create the conversation in the store (and put it in the URL) if this is its first write."""
    if not state.saved:
        store().create_conversation(user_id(), state.workspace, conversation_id=state.id)
        state.saved = True
        st.query_params["c"] = state.id


def end_turn(state: ConversationState, turn: TurnBuffer) -> None:
    """Write the finished (or stopped) turn in one transaction and show it; once, whichever run asks first."""
    if state.turn is turn:
        state.turn = None
    messages = turn.close()
    if not messages:
        return
    db, user = store(), user_id()
    ensure_saved(state)
    if state.replacing:
        state.replacing = False
        db.replace_last_turn(user, state.id, messages, state.tool_state)
    else:
        db.append_turn(user, state.id, messages, state.tool_state)
    state.messages.extend(messages)


def interrupted_turn(state: ConversationState) -> bool:
    """A turn the previous script run didn't finish (Stop, or a new input): keep what it produced."""
    if state.turn is None:
        return False
    state.cancel.set()
    end_turn(state, state.turn)
    return True
