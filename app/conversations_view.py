"""Sidebar: the workspace's saved conversations (open, rename, delete) and exports of the open one."""

from __future__ import annotations

import streamlit as st

from app import session
from app.export import to_json, to_markdown
from app.session import ConversationState
from app.store import ConversationNotFound

MAX_LISTED = 50


def conversation_sidebar(workspace: str, state: ConversationState) -> None:
    if st.button(":material/add: New chat", key=f"{workspace}-new", use_container_width=True, type="primary"):
        session.new_conversation(workspace)
        st.rerun()
    db, user = session.store(), session.user_id()
    summaries = db.list_conversations(user, workspace)[:MAX_LISTED]
    if summaries:
        st.caption("Conversations")
    for summary in summaries:
        current = summary.id == state.id
        label = (":material/chat: " if current else "") + summary.title
        if st.button(label, key=f"{workspace}-open-{summary.id}", use_container_width=True, disabled=current):
            st.query_params["c"] = summary.id
            st.rerun()
    if state.saved:
        _manage_open(workspace, state)


def _manage_open(workspace: str, state: ConversationState) -> None:
    db, user = session.store(), session.user_id()
    try:
        stored = db.load_conversation(user, state.id)
    except ConversationNotFound:
        return
    with st.expander("This conversation"):
        title = st.text_input("Title", stored.title, key=f"{workspace}-title-{stored.id}")
        if title.strip() and title != stored.title:
            db.rename(user, stored.id, title.strip())
            st.rerun()
        st.download_button(
            ":material/download: Markdown",
            to_markdown(stored),
            f"{stored.id}.md",
            "text/markdown",
            key=f"{workspace}-md",
        )
        st.download_button(
            ":material/download: JSON",
            to_json(stored),
            f"{stored.id}.json",
            "application/json",
            key=f"{workspace}-json",
        )
        if st.button(":material/delete: Delete", key=f"{workspace}-delete"):
            db.delete(user, stored.id)
            session.new_conversation(workspace)
            st.rerun()
