"""All Tools: chat with GLM-4, which may run Python, browse the web, draw images (cogview) and call
registered functions and the tools of MCP servers."""

import streamlit as st

from app.agent import run_turn, without_refused_turns
from app.config import max_steps
from app.docs.limits import max_upload_mb
from app.sandbox import warm_pool
from app.tools.builtins import load_tools
from app.tools.mcp import sync_mcp_tools
from app.tools.registry import all_tools
from app.ui import session
from app.ui.chat_view import (
    edit_last_question,
    render_history,
    show_flashes,
    stop_button,
    stream_turn,
    workspace_controls,
)
from app.ui.cogview_view import cogview_sidebar
from app.ui.files_view import session_files_sidebar, with_upload_note
from app.ui.i18n import t
from app.ui.render import safe_markdown
from app.ui.tools_view import browser_setup_note, tools_sidebar
from models.messages import Message

WORKSPACE = "chat"
MCP_SETTLE_S = 15.0

state = session.conversation(WORKSPACE)
session.interrupted_turn(state)
plugin_errors = load_tools()
with st.spinner(t("mcp.starting")):
    mcp = sync_mcp_tools(settle_s=MCP_SETTLE_S)
warm_pool()
files = session.session_dir(state)

st.title(t("nav.chat"))
backend = session.text_backend()
controls = workspace_controls(
    WORKSPACE, state, session.max_new_default(backend), session.takes_thinking_switch(backend)
)
# Asked before the sidebar is drawn (the box stays pinned at the bottom): while this run streams an
# answer, the uploader is disabled, since an upload would rerun the page and stop the answer.
prompt = st.chat_input(
    t("chat.placeholder") if backend is not None else t("model.text_unavailable"),
    disabled=backend is None,
    max_upload_size=max_upload_mb(),
)
with st.sidebar:
    enabled = tools_sidebar(all_tools(), plugin_errors, mcp)
    if any(tool.name == "simple_browser" for tool in enabled) and (note := browser_setup_note()):
        st.info(note)
    cogview_sidebar()
    session_files_sidebar(files, uploads_open=prompt is None and not controls.retry)

session.empty_state("text", WORKSPACE, backend, state.messages)
render_history(state.messages, state.tool_state, files)
show_flashes(state)
edited = edit_last_question(state)

question = Message("user", with_upload_note(prompt)) if prompt else None
user_message = session.next_user_message(state, question, controls.retry, edited)
if user_message is not None and backend is not None:
    with st.chat_message("user"):
        st.markdown(safe_markdown(user_message.content))
    turn = session.begin_turn(state, user_message, backend)
    ctx = state.tool_context()
    with st.chat_message("assistant"):
        stop_button()
        history = [*controls.system, *without_refused_turns(state.messages), user_message]
        events = run_turn(backend, enabled, history, controls.params, ctx, max_steps())
        stream_turn(events, turn, files, state.tool_state)
    session.end_turn(state, turn)
    st.rerun()
