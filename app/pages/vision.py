"""Vision: chat about images, uploaded at any turn or rendered from a PDF page, with a GLM-4V-family model."""

from __future__ import annotations

import threading

import streamlit as st

from app import session
from app.chat_view import render_reasoning, stop_button, stream_answer, workspace_controls
from app.images import ImageError, pdf_page_count, prepare_image, render_pdf_page
from app.render import safe_markdown
from models.messages import Attachment, Message
from models.vision import VisionBackend, VisionInputError, VisionLoadError
from models.vision.base import check_image_count

WORKSPACE = "vision"
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]
THUMBNAIL_WIDTH = 160
STAGED = "vision-staged"


def thumbnails(attachments: list[Attachment]) -> None:
    images = [a for a in attachments if a.kind == "image" and a.data]
    if images:
        st.image([a.data for a in images], caption=[a.name for a in images], width=THUMBNAIL_WIDTH)


def render_history(messages: list[Message]) -> None:
    for message in messages:
        if message.role not in {"user", "assistant"}:
            continue
        with st.chat_message(message.role):
            render_reasoning(message)
            if message.content:
                st.markdown(safe_markdown(message.content))
            thumbnails(message.attachments)
            if message.info.get("stopped"):
                st.caption(":material/stop_circle: stopped")


def pdf_page_picker(staged: list[Attachment], max_pixels: int) -> None:
    with st.expander("Ask about a PDF page"):
        pdf = st.file_uploader("PDF", type=["pdf"], key="vision-pdf")
        if pdf is None:
            return
        data = pdf.getvalue()
        try:
            pages = pdf_page_count(data, pdf.name)
            page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="vision-pdf-page")
            if st.button("Attach this page to my next message", key="vision-pdf-attach"):
                staged.append(render_pdf_page(data, int(page), pdf.name, max_pixels))
        except ImageError as exc:
            st.error(str(exc))


def new_message(backend: VisionBackend, staged: list[Attachment]) -> Message | None:
    prompt = st.chat_input(
        "Ask about your images…", accept_file="multiple", file_type=IMAGE_TYPES, key="vision-input"
    )
    if prompt is None:
        return None
    try:
        uploads = [prepare_image(f.getvalue(), f.name, backend.max_pixels) for f in prompt.files]
    except ImageError as exc:
        st.error(f"{exc} Nothing was sent.", icon=":material/image:")
        return None
    attachments = [*staged, *uploads]
    staged.clear()
    return Message("user", prompt.text or "", attachments=attachments)


state = session.conversation(WORKSPACE)
session.interrupted_turn(state)
staged: list[Attachment] = st.session_state.setdefault(STAGED, [])

st.title("Vision")
backend = session.vision_backend()

controls = workspace_controls(WORKSPACE, state)
if backend is not None:
    with st.sidebar:
        pdf_page_picker(staged, backend.max_pixels)

if backend is not None:
    limit = "any number of images" if backend.max_images is None else f"up to {backend.max_images} image(s)"
    st.caption(f"{backend.model_name} · {limit} per conversation")
render_history(state.messages)

if staged:
    st.caption("Attached to your next message:")
    thumbnails(staged)
    if st.button("Remove attachments", key="vision-unstage"):
        staged.clear()
        st.rerun()

if backend is None:
    st.chat_input("The vision model isn't available", disabled=True, key="vision-input-off")
    st.stop()

user_message = session.begin_retry(state) if controls.retry else new_message(backend, staged)
if user_message is not None:
    try:
        check_image_count([*state.messages, user_message], backend.max_images, backend.model_name)
    except VisionInputError as exc:
        st.error(str(exc), icon=":material/image:")
        st.stop()
    with st.chat_message("user"):
        if user_message.content:
            st.markdown(safe_markdown(user_message.content))
        thumbnails(user_message.attachments)
    turn = session.begin_turn(state, user_message)
    state.cancel = threading.Event()
    with st.chat_message("assistant"):
        stop_button()
        events = backend.stream(
            [*controls.system, *state.messages, user_message], controls.params, state.cancel
        )
        try:
            stream_answer(events, turn)
        except (VisionInputError, VisionLoadError) as exc:
            st.error(str(exc), icon=":material/error:")
        except Exception as exc:
            st.error(f"The vision model failed: {type(exc).__name__}: {exc}", icon=":material/error:")
    session.end_turn(state, turn)
    st.rerun()
