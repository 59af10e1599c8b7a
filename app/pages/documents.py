"""Long document: add files at any turn and ask about them; answers cite file and page, with the sources."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from itertools import groupby
from typing import Any

import streamlit as st

from app.agent import model_failure, without_refused_turns
from app.docs import isolate
from app.docs.context import DocContext, context_window, prepare_turn
from app.docs.dense import dense_index
from app.docs.document import Document
from app.docs.embeddings import EmbedSettings, embed_settings
from app.docs.errors import DocumentError
from app.docs.expansion import expand_query, expansion_enabled, keyword_ranking
from app.docs.index import build_index
from app.docs.limits import max_upload_mb
from app.docs.parse import Progress
from app.docs.shelf import Shelf
from app.store import ConversationNotFound
from app.ui import session
from app.ui.chat_view import (
    edit_last_question,
    fail_turn,
    message_notes,
    render_reasoning,
    show_flashes,
    stop_button,
    stream_answer,
    workspace_controls,
)
from app.ui.doc_labels import count_label, kind_label, page_label, whole_file_label
from app.ui.doc_links import PAGE_PARAM, SOURCE_PARAM, citation_linker, first_cited, requested_source
from app.ui.i18n import said, t
from app.ui.images_view import show_image
from app.ui.render import plain, safe_markdown
from app.ui.session import ConversationState
from app.ui.style import uploader_words
from models.backends.base import ChatBackend
from models.messages import GenerationParams, Message

WORKSPACE = "documents"
VIEWER_PIXELS = 1_000_000  # a page in the source viewer: about 840 x 1190 for A4
STRATEGIES = ("whole", "retrieved")


def shelf(state: ConversationState) -> Shelf:
    return Shelf(session.store(), session.user_id(), state.id)


def _bar_progress(bar: Any, name: str) -> Progress:
    def show(done: int, total: int) -> None:
        bar.progress(
            min(1.0, done / max(total, 1)),
            text=t("docs.reading_progress", name=plain(name), done=done, total=total),
        )

    return show


def name_after(state: ConversationState, text: str) -> None:
    """Title the conversation: after its first file until the first question, then after that question."""
    # A blank question keeps the title; a conversation deleted meanwhile has none to change.
    with contextlib.suppress(ValueError, ConversationNotFound):
        session.store().rename(session.user_id(), state.id, text)


def add_uploads(state: ConversationState, uploads: list[Any]) -> bool:
    """Parse, index and keep each new upload once, with a progress bar; a failure becomes that file's error.

    The conversation is saved first, so its documents are there after a reload. Says whether any was added.
    """
    done: set[str] = session.per_conversation(state, "done", set())
    errors: dict[str, str] = session.per_conversation(state, "errors", {})
    unopened: dict[str, str] = session.per_conversation(state, "unopened", {})
    new = [u for u in uploads if u.file_id not in done]
    if not new:
        return False
    session.ensure_saved(state)
    documents, added = shelf(state), False
    added_before = bool(state.tool_state.get("documents")) and len(state.tool_state["documents"]) > 0
    for upload in new:
        bar = st.progress(0.0, text=t("docs.reading", name=plain(upload.name)))
        try:
            doc = documents.add(
                state.tool_state, upload.name, upload.getvalue(), _bar_progress(bar, upload.name)
            )
        except DocumentError as exc:
            done.add(upload.file_id)
            errors[upload.name] = said(exc)
        else:
            # Marked done only once read: a run cut short mid-read (a question sent meanwhile reruns the
            # page) leaves the file to the next run, which `add` lists once however often it is read.
            done.add(upload.file_id)
            errors.pop(upload.name, None)
            unopened.pop(doc.sha256, None)  # uploaded again after it couldn't be reopened
            added = True
            if not state.messages and not added_before:
                name_after(state, upload.name)
                added_before = True
        bar.empty()
    return added


@st.fragment
def uploader(state: ConversationState) -> None:
    """The uploader, in a fragment of its own: a file picked while an answer streams waits for the answer
    to end (a fragment's run never interrupts the page's run, where any other widget's would stop the
    answer), then is read. Added files are indexed; after a run of the fragment alone, the page runs again
    to list them and, for a first file, show the conversation's new name in the sidebar."""
    limit = max_upload_mb()
    uploads = st.file_uploader(
        t("docs.add"),
        accept_multiple_files=True,
        key=f"documents-upload-{state.id}",
        max_upload_size=limit,
        help=t("docs.add_help", mb=limit),
    )
    if add_uploads(state, uploads or []):
        if docs := open_documents(state):
            index_documents(docs)
        if session.fragment_run():
            st.rerun()


def open_documents(state: ConversationState) -> list[Document]:
    """The conversation's files, from the parse cache or read again from the kept originals (with progress).

    A file that can't be opened is remembered with its reason (shown in the list), not tried on every rerun.
    """
    if not state.tool_state.get("documents"):
        return []
    unopened: dict[str, str] = session.per_conversation(state, "unopened", {})
    bars: list[Any] = []

    def progress_for(name: str) -> Progress:
        bars.append(st.progress(0.0, text=t("docs.rereading", name=plain(name))))
        return _bar_progress(bars[-1], name)

    docs, problems = shelf(state).open(state.tool_state, progress_for, skip=unopened)
    unopened.update(problems)
    for bar in bars:
        bar.empty()
    return docs


def index_documents(docs: list[Document]) -> None:
    """Build the retrieval index now, under a progress bar, rather than at the first question."""
    passages = sum(len(d.chunks) for d in docs)
    bar = st.progress(0.0, text=t("docs.indexing", n=f"{passages:,}"))
    build_index(docs)
    bar.empty()


def needs_retrieval(docs: list[Document], window: int) -> bool:
    """Whether the documents may be too long to go whole: then semantic search is worth its embeddings.
    (At about 4 characters a token, more than half the window.)"""
    return sum(d.text_chars for d in docs) > 2 * window


def semantic_search(state: ConversationState, docs: list[Document], window: int) -> EmbedSettings | None:
    """The embedding model when one is configured and the documents may need retrieval; its state shown
    (building, with progress that refreshes by itself; ready; failed), or that search is by keywords only."""
    settings = embed_settings()
    if not docs or not needs_retrieval(docs, window):
        return None
    if settings is None:
        st.caption(f":material/search: {t('docs.semantic_off')}")
        return None
    cache = shelf(state).cache()

    @st.fragment(run_every=2.0)
    def progress() -> None:
        status = dense_index.status(settings, docs, cache)
        if status.error:
            st.caption(f":material/error: {t('docs.semantic_failed', reason=status.error)}")
        elif status.ready:
            st.caption(f":material/neurology: {t('docs.semantic_ready', model=status.model)}")
        else:
            done = t("docs.semantic_building", done=f"{status.done:,}", total=f"{status.total:,}")
            st.progress(status.done / max(status.total, 1), text=done)

    progress()
    return settings


def search_keywords(
    backend: ChatBackend,
    question: str,
    docs: list[Document],
    params: GenerationParams,
    cancel: threading.Event,
) -> str:
    """The model's search keywords for the question, as a step of the answer; "" if the call failed."""
    with st.status(t("docs.expanding"), expanded=False) as step:
        try:
            keywords = expand_query(backend, question, docs, params, cancel)
        except Exception as exc:  # the answer goes on with the other rankings
            step.update(
                label=safe_markdown(t("docs.expansion_failed", why=f"{type(exc).__name__}: {exc}")),
                state="error",
            )
            return ""
        st.markdown(safe_markdown(keywords))
        step.update(label=t("docs.expanded"), state="complete")
    return keywords


def document_list(state: ConversationState, docs: list[Document]) -> None:
    names = {e["sha256"]: e["name"] for e in state.tool_state.get("documents", [])}
    unopened: dict[str, str] = session.per_conversation(state, "unopened", {})
    rows = [(d.sha256, d, "") for d in docs] + [
        (sha, None, why) for sha, why in unopened.items() if sha in names
    ]
    for sha, doc, why in rows:
        left, right = st.columns([20, 1], vertical_alignment="center")
        if doc is not None:
            size = count_label([p.label for p in doc.pages])
            left.caption(f":material/description: **{plain(doc.name)}** · {kind_label(doc.kind)} · {size}")
        else:
            left.error(safe_markdown(why), icon=":material/error:")
        if right.button(
            ":material/close:",
            key=f"documents-remove-{sha}",
            help=t("docs.remove", name=plain(names[sha])),
            type="tertiary",
        ):
            shelf(state).remove(state.tool_state, sha)
            unopened.pop(sha, None)
            st.rerun()
    for message in session.per_conversation(state, "errors", {}).values():
        st.error(safe_markdown(message), icon=":material/error:")


def _whole_file(group: list[dict[str, Any]], doc: Document | None, key: str, cited: int | None) -> None:
    """One file sent whole: a page picker, at the first page the answer cites (`cited`), and that page's
    text (not the whole file on every rerun)."""
    if doc is None:
        st.caption(t("docs.file_gone"))
        return
    indexes = [s["index"] for s in group if "index" in s] or list(range(len(doc.pages)))
    choice = indexes.index(cited) if cited in indexes else 0
    if len(indexes) > 1:
        labels = [page_label(doc.pages[i].label) for i in indexes]
        show = labels.__getitem__
        choice = st.selectbox(t("docs.page"), range(len(indexes)), choice, format_func=show, key=key)
    st.text(doc.pages[indexes[choice]].text)


def render_sources(
    info: dict[str, Any], docs: dict[str, Document], key: str = "live", cited: dict[str, int] | None = None
) -> None:
    """The strategy, the tokens sent, and every passage the model was given, by file and page; a file
    sent whole opens at the first page the answer cites (`cited`: file name -> page index).

    Files are found by content hash (two files may share a name); `key` tells this answer's widgets apart.
    """
    strategy = info.get("strategy")
    if strategy == "no room":
        st.warning(t("docs.no_room", prompt=f"{info.get('prompt', 0):,}"), icon=":material/warning:")
        return
    if strategy not in STRATEGIES:
        return
    sent = t("docs.sent", tokens=f"{info['tokens']:,}", budget=f"{info['budget']:,}")
    prompt = t("docs.sent_prompt", prompt=f"{info['prompt']:,}") if info.get("prompt") else ""
    search = ""
    if strategy == "retrieved" and info.get("search"):
        search = f" · {t('docs.search_' + info['search'])}"
    if strategy == "retrieved" and info.get("keywords"):
        search += f" · {t('docs.keywords', keywords=safe_markdown(info['keywords']))}"
    st.caption(f":material/description: {t('docs.strategy_' + strategy)}{search} · {sent}{prompt}")
    by_sha = {d.sha256: d for d in docs.values()}
    sources = info.get("sources", [])
    if strategy == "retrieved":
        by_page: dict[tuple[str, str], list[dict[str, Any]]] = {}  # each page once, best-ranked first
        for source in sources:
            by_page.setdefault((source.get("sha256") or source["file"], source["page"]), []).append(source)
        for passages in by_page.values():
            with st.expander(f"{plain(passages[0]['file'])} · {plain(page_label(passages[0]['page']))}"):
                st.text("\n\n".join(p["text"] for p in passages))
        return
    for n, (sha, group) in enumerate(groupby(sources, key=lambda s: s.get("sha256") or s["file"])):
        pages = list(group)
        doc = by_sha.get(sha) or docs.get(pages[0]["file"])
        whole = whole_file_label([p["page"] for p in pages])
        with st.expander(f"{plain(pages[0]['file'])} · {plain(whole)}"):
            first = (cited or {}).get(doc.name) if doc is not None else None
            _whole_file(pages, doc, f"documents-source-{key}-{n}", first)


def source_info(ctx: DocContext) -> dict[str, Any]:
    """What the answer keeps: each page sent whole by content hash and position (its text is in the file),
    or each retrieved passage with its text."""
    if ctx.strategy == "whole":
        sources = [
            {"file": s.file, "sha256": s.sha256, "page": s.page, "index": s.index} for s in ctx.sources
        ]
    else:
        sources = [
            {"file": s.file, "sha256": s.sha256, "page": s.page, "index": s.index, "text": s.text}
            for s in ctx.sources
        ]
    return {
        "strategy": ctx.strategy,
        "tokens": ctx.tokens,
        "budget": ctx.budget,
        "prompt": ctx.prompt,
        "sources": sources,
    }


def render_history(messages: list[Message], docs: dict[str, Document], linked: Callable[[str], str]) -> None:
    """The conversation; answers' citations of the open files are links to the source viewer (`linked`)."""
    for n, message in enumerate(messages):
        if message.role not in {"user", "assistant"}:
            continue
        with st.chat_message(message.role):
            render_reasoning(message)
            text = linked(message.content) if message.role == "assistant" else message.content
            st.markdown(safe_markdown(text))
            message_notes(message)
            cited = first_cited(message.content, docs.values()) if message.role == "assistant" else {}
            render_sources(message.info, docs, str(n), cited)


def show_requested_source(state: ConversationState, docs: list[Document]) -> None:
    """The source viewer, when the address asks for a file's page (a citation's link): opened once,
    then the address forgets it, so the next run doesn't open it again."""
    params = st.query_params
    requested = requested_source(docs, params.get(SOURCE_PARAM), params.get(PAGE_PARAM))
    for name in (SOURCE_PARAM, PAGE_PARAM):
        params.pop(name, None)
    if requested is not None:
        doc, index = requested
        st.dialog(plain(doc.name), width="large")(source_viewer)(state, doc, index)


def source_viewer(state: ConversationState, doc: Document, index: int) -> None:
    """One file, at page `index`, with a picker for its other pages: a PDF's page as it looks (rendered in
    the parser's sandboxed worker from the kept original), then the text the model read."""
    labels = [page_label(p.label) for p in doc.pages]
    st.caption(f":material/description: {kind_label(doc.kind)} · {count_label([p.label for p in doc.pages])}")
    choice = index
    if len(labels) > 1:
        pages, show = range(len(labels)), labels.__getitem__
        key = f"doc-viewer-{doc.sha256[:12]}-{index}"  # each citation opens at its own page
        choice = st.selectbox(t("docs.page"), pages, index=index, format_func=show, key=key)
    page = doc.pages[choice]
    if doc.kind == "pdf":
        try:
            data = shelf(state).original(doc.sha256)
            if data is None:
                raise DocumentError(doc.name, "the original file is no longer stored")
            png = isolate.render_pdf_page(data, page.number, doc.name, VIEWER_PIXELS)
            with st.container(border=True):  # a white page on a white dialog: framed
                show_image(png, labels[choice])
        except DocumentError as exc:
            st.caption(f":material/broken_image: {t('docs.page_not_shown', why=safe_markdown(said(exc)))}")
        st.caption(t("docs.page_text"))
    st.text(page.text)


state = session.conversation(WORKSPACE)
session.interrupted_turn(state)
isolate.prestart()

st.title(t("nav.documents"))
backend = session.text_backend()

uploader(state)
# Said outside the fragment: style rules go to the page's event container.
uploader_words(f"documents-upload-{state.id}", max_upload_mb())
controls = workspace_controls(
    WORKSPACE, state, session.max_new_default(backend), session.takes_thinking_switch(backend)
)
docs = open_documents(state)
document_list(state, docs)
window = context_window(backend.context_window) if backend is not None else 0
semantic = semantic_search(state, docs, window) if backend is not None else None
by_name = {d.name: d for d in docs}
linked = citation_linker(state.id, docs)
if not docs:
    session.empty_state("text", WORKSPACE, backend, state.messages)
render_history(state.messages, by_name, linked)
show_requested_source(state, docs)

if backend is None:
    st.chat_input(t("model.text_unavailable"), disabled=True, key="documents-input-off")
    st.stop()

prompt = st.chat_input(t("docs.placeholder"), key="documents-input")
show_flashes(state)
edited = edit_last_question(state)
new = Message("user", prompt) if prompt else None
user_message = session.next_user_message(state, new, controls.retry, edited)
if user_message is not None:
    with st.chat_message("user"):
        st.markdown(safe_markdown(user_message.content))
    first_turn = not state.messages
    turn = session.begin_turn(state, user_message, backend)
    history = [*controls.system, *without_refused_turns(state.messages)]
    state.cancel = threading.Event()
    with st.chat_message("assistant"):
        stop_button()
        rankings = []
        if semantic is not None:
            ranking = dense_index.ranking(semantic, user_message.content, docs, shelf(state).cache())
            rankings += [ranking] if ranking else []
        keywords = ""
        if expansion_enabled() and docs and needs_retrieval(docs, window):
            keywords = search_keywords(backend, user_message.content, docs, controls.params, state.cancel)
            rankings += [keyword_ranking(keywords, docs)] if keywords else []
        messages, ctx = prepare_turn(
            history,
            user_message.content,
            docs,
            backend.count_tokens,
            window,
            controls.params.max_new_tokens,
            rankings,
        )
        info = source_info(ctx)
        if semantic is not None:
            info["search"] = "hybrid" if len(rankings) > bool(keywords) else "keywords_not_ready"
        if keywords:
            info["keywords"] = keywords
        try:
            stream_answer(backend.stream(messages, [], controls.params, state.cancel), turn, info, linked)
        except Exception as exc:
            fail_turn(turn, model_failure(exc))
        render_sources(info, by_name)
    session.end_turn(state, turn)
    if first_turn and state.messages:
        name_after(state, user_message.content)
    st.rerun()
