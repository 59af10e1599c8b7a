"""Typed access to what a browser session owns (`st.session_state`) and what the process shares
(`st.cache_resource`: loaded models, the conversation store)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.agent import token_source
from app.config import data_dir
from app.sandbox import watch as watch_kernel
from app.store import (
    Conversation,
    ConversationNotFound,
    OpenTurn,
    StaleConversation,
    Store,
    new_conversation_id,
)
from app.timings import StepTimer
from app.tools.base import ToolContext
from app.turn import TurnBuffer, interrupted, produced_nothing
from app.ui.gate import is_admin, require_user, require_valid_settings, through_navigation
from app.ui.i18n import said_key, t
from app.ui.render import plain, safe_markdown
from models.backends import BackendLoadError, ChatBackend, get_text_backend
from models.messages import Message
from models.protocols import detect_protocol
from models.saved import is_configured
from models.settings import ModelSettings
from models.threads import max_new_tokens_for
from models.tokens import estimate_tokens
from models.vision import VisionBackend, VisionLoadError, get_vision_backend

T = TypeVar("T")
MODELS_PAGE = "pages/models.py"


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
def _load_failures() -> dict[tuple[str, ModelSettings], tuple[str, dict[str, object], str]]:
    """Why a model failed to load, kept per process so a rerun doesn't retry (and wait) again: the
    catalogue key and values (said in each session's own language) and the error's own words."""
    return {}


def _load_model(kind: str, label: str, settings: ModelSettings, load: Callable[[], T]) -> T | None:
    failures, key = _load_failures(), (kind, settings)
    if key not in failures:
        try:
            with st.spinner(t("model.loading", model=plain(label))):
                return load()
        except (BackendLoadError, VisionLoadError) as exc:
            failures[key] = (f"model_error.{exc.kind}", exc.values, str(exc))
        except Exception as exc:  # anything else a load raises is shown the same way, never as a traceback
            why = f"{type(exc).__name__}: {exc}"
            failures[key] = ("model.load_failed", {"model": label, "why": why}, why)
    st.error(safe_markdown(said_key(*failures[key])), icon=":material/error:")
    if st.button(t("model.retry_load"), key=f"reload-{kind}"):
        failures.pop(key, None)
        st.rerun()
    return None


def text_backend() -> ChatBackend | None:
    """The configured text model, loaded once per process; says why when it can't be loaded, and
    welcomes a newcomer to the Models page when no model is configured."""
    if not is_configured("text"):
        welcome("text")
        return None
    settings = ModelSettings.from_env()
    where = settings.api_base if settings.backend == "openai" else t("model.in_process")
    return _load_model("text", f"{settings.model} ({where})", settings, lambda: _load_text_backend(settings))


def vision_backend() -> VisionBackend | None:
    """The configured vision model, loaded once per process and kept across page switches."""
    if not is_configured("vision"):
        welcome("vision")
        return None
    settings = ModelSettings.from_env()
    where = settings.vision_api_base if settings.vision_backend == "openai" else t("model.in_process")
    label = f"{settings.vision_model} ({where})"
    return _load_model("vision", label, settings, lambda: _load_vision_backend(settings))


def welcome(kind: str) -> None:
    """In place of a load error when no model was chosen: where to choose one."""
    what = t(f"welcome.kind_{kind}")
    admin = is_admin()
    text = t("welcome.text", kind=what) if admin else t("welcome.ask_admin", kind=what)
    st.info(f"**{t('welcome.title')}**\n\n{text}", icon=":material/waving_hand:")
    if admin:
        link_to_page(MODELS_PAGE, "/models", t("welcome.open"), ":material/tune:")


def link_to_page(page: str, url: str, label: str, icon: str) -> None:
    """A link that opens another page of the app in the same tab (`st.page_link`), or a plain link
    when this run has no navigation to find it in (an AppTest of one page)."""
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"[{label}]({url})")


def empty_state(kind: str, workspace: str, backend: object | None, messages: list[Message]) -> None:
    """A new conversation's first view: which model answers and what this workspace can do with it."""
    if backend is None or messages:
        return
    settings = ModelSettings.from_env()
    name = served_name(backend) or (settings.model if kind == "text" else settings.vision_model)
    shown = Path(name).name if is_local_path(name) else name
    st.markdown(t(f"empty.{workspace}", model=shown))


def served_name(backend: object) -> str | None:
    """The model a loaded backend talks to, as it names it (a server's model id, a vision model's name)."""
    for holder in (backend, getattr(backend, "source", None)):
        for attribute in ("model_name", "model"):
            if isinstance(name := getattr(holder, attribute, None), str) and name:
                return name
    return None


def is_local_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().is_dir()


def max_new_default(backend: object | None) -> int:
    """The sidebar's default answer length for this backend: short for a small in-process model."""
    source = getattr(backend, "source", backend)
    return max_new_tokens_for(getattr(source, "parameters", None))


def takes_thinking_switch(backend: object | None) -> bool:
    """Whether the sidebar's Thinking switch means anything for this backend's model: one whose
    protocol reasons first (GLM-4.5+), or a chat server's model that isn't known to be GLM-4."""
    if backend is None:
        return False
    protocol = getattr(backend, "protocol", None)
    if protocol is not None:
        return bool(protocol.output_tags)
    return detect_protocol(model_name=getattr(backend, "model", None)) != "glm4"


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
    store has it yet (the first turn creates it). `version` is the store's version of what this tab
    shows; `open` the turn this tab is writing.
    """

    workspace: str
    id: str = field(default_factory=new_conversation_id)
    saved: bool = False
    messages: list[Message] = field(default_factory=list)
    tool_state: dict[str, Any] = field(default_factory=dict)
    turn: TurnBuffer | None = None
    replaced: list[Message] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0
    open: OpenTurn | None = None

    def tool_context(self) -> ToolContext:
        """Tools run in this conversation's folder, with this browser session's kernel, which is
        shut down once the browser has gone."""
        self.cancel = threading.Event()
        watch_kernel(session_id(), _browser_alive())
        return ToolContext(session_id(), session_dir(self), self.tool_state, self.cancel)


def conversation(workspace: str) -> ConversationState:
    """The workspace's open conversation, reopened from the URL (`?c=id`) after a reload; a turn
    left open there by a run that is gone is closed first, as interrupted."""
    through_navigation()
    require_user()
    require_valid_settings()
    key = f"conversation:{workspace}"
    state: ConversationState = st.session_state.setdefault(key, ConversationState(workspace))
    wanted = st.query_params.get("c")
    if wanted and wanted != state.id:
        try:
            stored = _load_recovered(wanted)
        except ConversationNotFound:
            st.query_params.pop("c", None)
            st.warning(t("conv.not_found"))
        else:
            if stored.workspace == workspace:
                state = ConversationState(workspace, stored.id, True, stored.messages, stored.tool_state)
                state.version = stored.version
                st.session_state[key] = state
    elif state.saved and not wanted:
        st.query_params["c"] = state.id
    return state


@dataclass
class _LiveTurn:
    """A turn being written: by the script run on `thread`, for a browser session `alive` asks about."""

    turn: TurnBuffer
    alive: Callable[[], bool]
    cancel: threading.Event
    thread: threading.Thread = field(default_factory=threading.current_thread)


@st.cache_resource(show_spinner=False)
def _live_turns() -> dict[str, _LiveTurn]:
    """Turns being written by a script run of this process, by token."""
    return {}


def _is_live(token: str) -> bool:
    live = _live_turns().get(token)
    return live is not None and not live.turn.closed and live.thread.is_alive() and live.alive()


def _load_recovered(conversation_id: str) -> Conversation:
    """The stored conversation; an open turn whose writer is gone (a reload, a closed tab, a crash)
    is closed as interrupted first, keeping its question and what it produced."""
    db, user = store(), user_id()
    stored = db.load_conversation(user, conversation_id)
    token = stored.open_turn
    if token is None or _is_live(token):
        return stored
    if (gone := _live_turns().pop(token, None)) is not None:
        gone.cancel.set()  # its run may still be unwinding: stop its model and tool
    messages = db.open_turn_messages(user, conversation_id, token)
    if messages is not None:
        db.finish_turn(
            user, conversation_id, token, interrupted(messages), keep_replaced=produced_nothing(messages)
        )
    return db.load_conversation(user, conversation_id)


def _reload(state: ConversationState) -> None:
    """Show the conversation as stored now (another tab changed it)."""
    stored = _load_recovered(state.id)
    state.messages, state.tool_state, state.version = stored.messages, stored.tool_state, stored.version
    state.replaced = None


def new_conversation(workspace: str) -> None:
    st.session_state[f"conversation:{workspace}"] = ConversationState(workspace)
    st.query_params.pop("c", None)


@dataclass(frozen=True)
class TokenCount:
    """A token counter for a turn's timer (`begin_turn` takes anything with these two fields)."""

    count_tokens: Callable[[str], int]
    token_source: str


def vision_token_count(backend: object) -> TokenCount:
    """The vision model's tokenizer when it runs in-process, else an estimate: speeds are said in
    tokens/s on every page (stream chunks hold several tokens)."""
    tokenizer = getattr(backend, "tokenizer", None) or getattr(
        getattr(backend, "processor", None), "tokenizer", None
    )
    if tokenizer is not None:
        return TokenCount(lambda text: len(tokenizer.encode(text, add_special_tokens=False)), "tokenizer")
    return TokenCount(estimate_tokens, "estimate")


def begin_turn(
    state: ConversationState, user_message: Message, backend: ChatBackend | None = None
) -> TurnBuffer:
    """Start a turn: its question is written now, and each step as it finishes, so a reload keeps them.

    The write checks that this tab shows the conversation as stored: when another tab wrote a turn
    (or is writing one), nothing is written, the conversation is reloaded with a note, and the run
    ends. The turn's timer starts now (time to first token counts from the request); the backend's
    token counter gives speeds in tokens when the server reports no usage.
    """
    timer = (
        StepTimer(count_tokens=backend.count_tokens, counted_by=token_source(backend))
        if backend is not None
        else StepTimer()
    )
    state.turn = turn = TurnBuffer([user_message], timer)
    try:
        _open(state, turn)
    except StaleConversation as stale:
        state.turn = None
        running = stale.open_turn is not None and _is_live(stale.open_turn)
        _reload(state)
        flash(state, t("turn.running_elsewhere" if running else "turn.stale", question=user_message.content))
        st.rerun()
    except (ConversationNotFound, sqlite3.Error, OSError):
        state.open = None  # written when it ends, or the reason shown then
    return turn


def _open(state: ConversationState, turn: TurnBuffer) -> None:
    ensure_saved(state)
    db, user = store(), user_id()
    state.open = db.begin_turn(
        user, state.id, turn.messages[0], state.version, replace=state.replaced is not None
    )
    state.version = state.open.version
    _live_turns()[state.open.token] = _LiveTurn(turn, _browser_alive(), state.cancel)
    conversation_id, token = state.id, state.open.token

    def save(messages: list[Message]) -> None:
        with contextlib.suppress(ConversationNotFound, sqlite3.Error, OSError):
            db.save_open_turn(user, conversation_id, token, messages)  # the turn's end says why not

    turn.on_change = save


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
        state.saved, state.version = True, 0
        st.query_params["c"] = state.id


def end_turn(state: ConversationState, turn: TurnBuffer) -> None:
    """Close the finished (or stopped) turn and write it; once, whichever run asks first.

    A Retry or edit that produced nothing (an error, or a stop before the first token) keeps the turn
    it was to replace, and says why once. A turn that can't be written stays in view, with the reason;
    one another tab closed meanwhile (it found this run gone) is reloaded as stored.
    """
    if state.turn is turn:
        state.turn = None
    messages = turn.close()
    if not messages:
        return
    opened, state.open = state.open, None
    replaced, state.replaced = state.replaced, None
    keep_old = replaced is not None and produced_nothing(messages)
    try:
        if opened is None:  # the question couldn't be written when the turn began: try it whole now
            state.replaced = replaced
            _open(state, turn)
            opened, state.open, state.replaced = state.open, None, None
        _live_turns().pop(opened.token, None)
        version = store().finish_turn(
            user_id(), state.id, opened.token, messages, state.tool_state, keep_replaced=keep_old
        )
    except StaleConversation:
        _reload(state)
        flash(state, t("turn.stale", question=messages[0].content))
        return
    except ConversationNotFound:
        _show_ended(state, messages, replaced, keep_old)
        flash(state, t("turn.unsaved_deleted"))
        return
    except (sqlite3.Error, OSError) as exc:
        _show_ended(state, messages, replaced, keep_old)
        flash(state, t("turn.unsaved", why=f"{type(exc).__name__}: {exc}"))
        return
    if version is None:
        _reload(state)
        flash(state, t("turn.closed_elsewhere"))
        return
    state.version = version
    _show_ended(state, messages, replaced, keep_old)


def _show_ended(
    state: ConversationState, messages: list[Message], replaced: list[Message] | None, keep_old: bool
) -> None:
    """The ended turn joins the view (or, for a Retry that produced nothing, the turn it was to replace,
    with why)."""
    if not keep_old or replaced is None:
        state.messages.extend(messages)
        return
    state.messages.extend(replaced)
    errors = [m.info["error"] for m in messages if m.info.get("error")]
    why = errors[0] if errors else t("turn.stopped_early")
    flash(state, f"{why}\n\n{t('turn.previous_kept')}")


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


def fragment_run() -> bool:
    """Whether this run is only a fragment's (one of its widgets changed), not the whole page's: a
    fragment that changed what the rest of the page shows reruns the page then (`st.rerun`), which it
    must not do within a page run (that would drop the run's chat input)."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)
