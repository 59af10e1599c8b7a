"""Long document: add files at any turn and ask about them; answers cite file and page, with the sources."""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

from app import session
from app.chat_view import answer_text, stop_button, workspace_controls
from app.docs import isolate
from app.docs.context import DocContext, context_window, prepare_turn
from app.docs.document import Document
from app.docs.errors import DocumentError
from app.docs.limits import max_upload_mb
from app.docs.store import cached_document, load_document
from app.render import safe_markdown
from app.session import ConversationState
from models.messages import Message

WORKSPACE = "documents"
DONE_UPLOADS = "documents-done-uploads"
ERRORS = "documents-errors"
STRATEGY = {"whole": "sent whole", "retrieved": "best passages retrieved", "none": "no documents"}


def open_documents(state: ConversationState) -> list[Document]:
    """The conversation's files (kept in its tool state by content hash), from the parse cache."""
    docs = []
    for entry in state.tool_state.get("documents", []):
        doc = cached_document(entry["sha256"], entry["name"])
        if doc is not None:
            docs.append(doc)
    return docs


def add_uploads(state: ConversationState, uploads: list[Any]) -> None:
    """Parse and index each new upload once, with a progress bar; a failure is kept as that file's error."""
    done: set[str] = st.session_state.setdefault(DONE_UPLOADS, set())
    errors: dict[str, str] = st.session_state.setdefault(ERRORS, {})
    entries = state.tool_state.setdefault("documents", [])
    for upload in uploads:
        if upload.file_id in done:
            continue
        done.add(upload.file_id)
        bar = st.progress(0.0, text=f"Reading {upload.name}…")

        def show(pages: int, total: int, name: str = upload.name, bar: Any = bar) -> None:
            bar.progress(min(1.0, pages / max(total, 1)), text=f"Reading {name}: {pages} of {total}")

        try:
            doc = load_document(upload.name, upload.getvalue(), show)
        except DocumentError as exc:
            errors[upload.name] = str(exc)
        else:
            errors.pop(upload.name, None)
            if all(e["sha256"] != doc.sha256 for e in entries):
                entries.append({"name": doc.name, "sha256": doc.sha256})
        bar.empty()


def document_list(state: ConversationState, docs: list[Document]) -> None:
    for i, doc in enumerate(docs):
        left, right = st.columns([5, 1])
        unit = "slides" if doc.kind == "pptx" else "pages" if doc.kind in {"pdf", "docx"} else "sections"
        left.caption(f":material/description: **{doc.name}** · {doc.kind} · {len(doc.pages)} {unit}")
        if right.button(":material/close:", key=f"documents-remove-{i}", help=f"Remove {doc.name}"):
            state.tool_state["documents"] = [
                e for e in state.tool_state["documents"] if e["sha256"] != doc.sha256
            ]
            st.rerun()
    for message in st.session_state.get(ERRORS, {}).values():
        st.error(message, icon=":material/error:")


def render_sources(info: dict[str, Any], docs: dict[str, Document]) -> None:
    """The strategy, the tokens sent, and every passage the model was given, by file and page."""
    strategy = info.get("strategy")
    if strategy not in {"whole", "retrieved"}:
        return
    sent = f"{info['tokens']:,} tokens of documents sent (room for {info['budget']:,})"
    st.caption(f":material/description: {STRATEGY[strategy]} · {sent}")
    for source in info.get("sources", []):
        with st.expander(f"{source['file']} · {source['page']}"):
            doc = docs.get(source["file"])
            if source["text"]:
                st.text(source["text"])
            elif doc is not None:
                st.text("\n\n".join(f"[{p.label}]\n{p.text}" for p in doc.pages))
            else:
                st.caption("This file is no longer open in the conversation.")


def source_info(ctx: DocContext) -> dict[str, Any]:
    """What the answer keeps for display: the passages sent, or for whole files just their names."""
    if ctx.strategy == "whole":
        names = dict.fromkeys(s.file for s in ctx.sources)
        sources = [{"file": name, "page": "whole file", "text": ""} for name in names]
    else:
        sources = [{"file": s.file, "page": s.page, "text": s.text} for s in ctx.sources]
    return {"strategy": ctx.strategy, "tokens": ctx.tokens, "budget": ctx.budget, "sources": sources}


def render_history(messages: list[Message], docs: dict[str, Document]) -> None:
    for message in messages:
        if message.role not in {"user", "assistant"}:
            continue
        with st.chat_message(message.role):
            st.markdown(safe_markdown(message.content))
            if message.info.get("stopped"):
                st.caption(":material/stop_circle: stopped")
            render_sources(message.info, docs)


state = session.conversation(WORKSPACE)
session.interrupted_turn(state)
isolate.prestart()

st.title("Long document")
backend = session.text_backend()

controls = workspace_controls(WORKSPACE, state)

uploads = st.file_uploader(
    "Add documents",
    accept_multiple_files=True,
    key="documents-upload",
    help=f"PDF, DOCX, PPTX, HTML, CSV, Markdown, text or code; up to {max_upload_mb()} MB per file.",
)
add_uploads(state, uploads or [])
docs = open_documents(state)
document_list(state, docs)
by_name = {d.name: d for d in docs}
render_history(state.messages, by_name)

if backend is None:
    st.chat_input("The text model isn't available", disabled=True, key="documents-input-off")
    st.stop()

prompt = st.chat_input("Ask about your documents…", key="documents-input")
user_message = session.begin_retry(state) if controls.retry else Message("user", prompt) if prompt else None
if user_message is not None:
    with st.chat_message("user"):
        st.markdown(safe_markdown(user_message.content))
    turn = session.begin_turn(state, user_message)
    history = [*controls.system, *state.messages]
    window = context_window(backend.context_window)
    messages, ctx = prepare_turn(
        history, user_message.content, docs, backend.count_tokens, window, controls.params.max_new_tokens
    )
    info = source_info(ctx)
    state.cancel = threading.Event()
    with st.chat_message("assistant"):
        stop_button()
        try:
            st.write_stream(
                answer_text(backend.stream(messages, [], controls.params, state.cancel), turn, info)
            )
        except Exception as exc:
            st.error(f"The model failed: {type(exc).__name__}: {exc}", icon=":material/error:")
        render_sources(info, by_name)
    session.end_turn(state, turn)
    st.rerun()
