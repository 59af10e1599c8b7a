"""Sidebar: the workspace's saved conversations (search, open, rename, delete) and exports of the open one.

A page run reads only the titles it lists; exports are built when their download is clicked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import partial
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from app.sandbox import release_folder
from app.sandbox.notebook import notebook_from_messages
from app.store import Conversation, ConversationNotFound, ConversationSummary, Store
from app.store.conversations import UNTITLED
from app.store.export import to_json, to_markdown
from app.ui import session
from app.ui.i18n import t
from app.ui.render import plain
from app.ui.session import ConversationState

PAGE_SIZE = 50


def conversation_sidebar(workspace: str, state: ConversationState) -> None:
    if st.button(
        ":material/add: " + t("conv.new"), key=f"{workspace}-new", use_container_width=True, type="primary"
    ):
        session.new_conversation(workspace)
        st.rerun()
    db, user = session.store(), session.user_id()
    search = st.text_input(
        t("conv.search"),
        key=f"{workspace}-search",
        placeholder=t("conv.search_placeholder"),
        label_visibility="collapsed",
    )
    shown_key = f"{workspace}-shown"
    shown = st.session_state.get(shown_key, PAGE_SIZE)
    summaries = db.list_conversations(user, workspace, search, limit=shown + 1)
    if not summaries and search.strip():
        st.caption(t("conv.no_match"))
    now = datetime.now(browser_timezone())
    for group, members in groupby(summaries[:shown], key=lambda s: date_group(s.updated, now)):
        st.caption(t(f"conv.group_{group}"))
        for summary in members:
            current = summary.id == state.id
            label = (":material/chat: " if current else "") + plain(title_shown(summary.title))
            clicked = st.button(
                label,
                key=f"{workspace}-open-{summary.id}",
                use_container_width=True,
                type="secondary" if current else "tertiary",
            )
            if clicked and not current:
                st.query_params["c"] = summary.id
                st.rerun()
    if len(summaries) > shown and st.button(
        t("conv.more"), key=f"{workspace}-more", use_container_width=True
    ):
        st.session_state[shown_key] = shown + PAGE_SIZE
        st.rerun()
    if state.saved:
        _manage_open(workspace, state, db, user)


def browser_timezone() -> tzinfo | None:
    """The browser's time zone (`st.context.timezone`), else the server's."""
    try:
        return ZoneInfo(st.context.timezone) if st.context.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def date_group(updated: float, now: datetime) -> str:
    """ "today", "yesterday" or "earlier": when a conversation last changed, by the calendar of `now`."""
    day = datetime.fromtimestamp(updated, now.tzinfo).date()
    if day >= now.date():
        return "today"
    return "yesterday" if day == now.date() - timedelta(days=1) else "earlier"


def title_shown(title: str) -> str:
    """A conversation's title as listed: the store's placeholder for an untitled one is translated."""
    return t("conv.untitled") if title == UNTITLED else title


def _rename(db: Store, user: str, conversation_id: str, key: str) -> None:
    """The title field was edited: keep the new title (a blank one is ignored)."""
    if title := str(st.session_state.get(key, "")).strip():
        db.rename(user, conversation_id, title)


def _export(db: Store, user: str, conversation_id: str, render: Callable[[Conversation], str]) -> str:
    """Runs when a download is clicked (off the script thread): the conversation as stored then."""
    return render(db.load_conversation(user, conversation_id))


def _notebook(conversation: Conversation) -> str:
    return notebook_from_messages(conversation.messages)


def _manage_open(workspace: str, state: ConversationState, db: Store, user: str) -> None:
    try:
        summary: ConversationSummary = db.summary(user, state.id)
    except ConversationNotFound:
        return
    with st.expander(t("conv.this")):
        # Renamed only when the user edits the field: a field that merely still shows an older title
        # (the first question or file renamed it meanwhile) must not rename it back. The key follows
        # the stored title, so the field shows the new one.
        key = f"{workspace}-title-{summary.id}-{hashlib.sha1(summary.title.encode()).hexdigest()[:8]}"
        st.text_input(
            t("conv.title"),
            title_shown(summary.title),
            key=key,
            on_change=_rename,
            args=(db, user, summary.id, key),
        )
        exports = [
            ("Markdown", to_markdown, "md", "text/markdown"),
            ("JSON", to_json, "json", "application/json"),
        ]
        if workspace == "chat":
            exports.append((t("conv.notebook"), _notebook, "ipynb", "application/x-ipynb+json"))
        for label, render, extension, mime in exports:
            st.download_button(
                label,
                partial(_export, db, user, summary.id, render),
                f"{summary.id}.{extension}",
                mime,
                key=f"{workspace}-export-{extension}",
                on_click="ignore",
                icon=":material/download:",
            )
        with st.popover(":material/delete: " + t("conv.delete"), use_container_width=True):
            st.caption(t("conv.delete_confirm"))
            if st.button(t("conv.delete_for_good"), key=f"{workspace}-delete", type="primary"):
                release_folder(db.conversation_workdir(user, summary.id))
                db.delete(user, summary.id)
                session.new_conversation(workspace)
                st.rerun()
