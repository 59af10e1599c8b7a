"""Vision: chat about images, uploaded at any turn or rendered from a PDF page, with a GLM-4V-family model."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import streamlit as st

from app.agent import TurnError, model_failure
from app.docs.limits import max_upload_mb
from app.images import ImageError, pdf_page_count, prepare_image, render_pdf_page, thumbnail
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
from app.ui.i18n import plural, said, t
from app.ui.images_view import show_image
from app.ui.render import plain, safe_markdown
from app.ui.style import uploader_words
from models.errors import ServerGone
from models.messages import Attachment, Message
from models.vision import VisionBackend, VisionInputError, VisionLoadError
from models.vision.base import check_image_count

WORKSPACE = "vision"
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]


@dataclass
class Refusal:
    """A message that wasn't sent: why, and its text, kept for the user to send again."""

    reason: str
    text: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


@dataclass
class Staged:
    """What waits for the next message of one conversation: attachments (PDF pages, the valid images
    of a refused message) and the refused message itself."""

    attachments: list[Attachment] = field(default_factory=list)
    refusal: Refusal | None = None


@st.cache_data(max_entries=256, show_spinner=False)
def preview(data: bytes) -> bytes | None:
    return thumbnail(data)


def thumbnails(attachments: list[Attachment]) -> None:
    """Small previews of the images; one that can't be shown is named instead of breaking the page."""
    images = [(a.data, a.name) for a in attachments if a.kind == "image"]
    if not images:
        return
    columns = st.columns(min(len(images), 4))
    for i, (data, name) in enumerate(images):
        with columns[i % len(columns)]:
            small = preview(data) if data else None
            if small is None:
                st.caption(":material/broken_image: " + t("vision.cant_show", name=plain(name)))
            else:
                show_image(small, name)


def render_history(messages: list[Message]) -> None:
    for message in messages:
        if message.role not in {"user", "assistant"}:
            continue
        with st.chat_message(message.role):
            render_reasoning(message)
            if message.content:
                st.markdown(safe_markdown(message.content))
            thumbnails(message.attachments)
            message_notes(message)


@st.fragment
def pdf_page_picker(staged: Staged, max_pixels: int) -> None:
    """A PDF's page attached as an image, in a fragment of its own: a PDF picked (or a page attached)
    while an answer streams waits for the answer to end instead of stopping it (a fragment's run never
    interrupts the page's run). An attached page shows with the staged images after a run of the page."""
    with st.expander(t("vision.pdf_page")):
        pdf = st.file_uploader(
            t("vision.pdf"), type=["pdf"], key="vision-pdf", max_upload_size=max_upload_mb()
        )
        uploader_words("vision-pdf", max_upload_mb(), "PDF")
        if pdf is None:
            return
        data = pdf.getvalue()
        try:
            counted = st.session_state.setdefault("vision-pdf-pages", {})
            if pdf.file_id not in counted:  # one parser job per upload, not one per rerun
                counted[pdf.file_id] = pdf_page_count(data, pdf.name)
            pages = counted[pdf.file_id]
            page = st.number_input(t("vision.page_of", pages=pages), 1, pages, 1, key="vision-pdf-page")
            if st.button(t("vision.attach_page"), key="vision-pdf-attach"):
                image = render_pdf_page(data, int(page), pdf.name, max_pixels)
                if any(a.name == image.name and a.data == image.data for a in staged.attachments):
                    st.info(t("vision.already_attached", name=plain(image.name)))
                else:
                    staged.attachments.append(image)
                    if session.fragment_run():
                        st.rerun()
        except ImageError as exc:
            st.error(safe_markdown(said(exc)))


def show_staged(staged: Staged) -> None:
    if staged.attachments:
        st.caption(t("vision.staged"))
        if st.button(t("vision.unstage"), key="vision-unstage"):
            staged.attachments.clear()
            st.rerun()
        thumbnails(staged.attachments)
    if staged.refusal is not None:
        st.error(t("vision.refused", reason=safe_markdown(staged.refusal.reason)), icon=":material/image:")
        if staged.refusal.text:
            st.text_area(
                t("vision.kept_message"),
                staged.refusal.text,
                key=f"vision-refused-{staged.refusal.key}",
            )
        if st.button(t("vision.dismiss"), key="vision-dismiss"):
            staged.refusal = None
            st.rerun()


def new_message(backend: VisionBackend, staged: Staged, history: list[Message]) -> Message | None:
    """The user's new message, with the staged attachments. Everything is checked before anything is
    cleared: a refused message names the file at fault, keeps its text on the page and its valid
    images staged (unless the model's image limit was the problem)."""
    prompt = st.chat_input(
        t("vision.placeholder"),
        accept_file="multiple",
        max_upload_size=max_upload_mb(),
        file_type=IMAGE_TYPES,
        key="vision-input",
    )
    if prompt is None:
        return None
    text = prompt.text or ""
    uploads: list[Attachment] = []
    problems: list[str] = []
    for upload in prompt.files:
        try:
            uploads.append(prepare_image(upload.getvalue(), upload.name, backend.max_pixels))
        except ImageError as exc:
            problems.append(said(exc))
    message = Message("user", text, attachments=[*staged.attachments, *uploads])
    if not problems:
        try:
            check_image_count([*history, message], backend.max_images, backend.model_name)
        except VisionInputError as exc:
            problems.append(str(exc))
            uploads = []
    if problems:
        staged.attachments.extend(uploads)
        staged.refusal = Refusal(" ".join(problems), text)
        st.rerun()
    staged.attachments = []
    staged.refusal = None
    return message


state = session.conversation(WORKSPACE)
session.interrupted_turn(state)
staged = session.per_conversation(state, "staged", Staged())  # a bad attachment stays in its chat

st.title(t("nav.vision"))
backend = session.vision_backend()

controls = workspace_controls(WORKSPACE, state, session.max_new_default(backend), thinking_switch=False)
if backend is not None:
    with st.sidebar:
        pdf_page_picker(staged, backend.max_pixels)
    limit = (
        t("vision.any_images")
        if backend.max_images is None
        else plural("vision.images_max", backend.max_images)
    )
    st.caption(f"{plain(backend.model_name)} · {limit}")
session.empty_state("vision", WORKSPACE, backend, state.messages)
render_history(state.messages)
show_staged(staged)

if backend is None:
    st.chat_input(t("model.vision_unavailable"), disabled=True, key="vision-input-off")
    st.stop()

show_flashes(state)
edited = edit_last_question(state)
new = new_message(backend, staged, state.messages)
user_message = session.next_user_message(state, new, controls.retry, edited)
if user_message is not None:
    with st.chat_message("user"):
        if user_message.content:
            st.markdown(safe_markdown(user_message.content))
        thumbnails(user_message.attachments)
    turn = session.begin_turn(state, user_message, session.vision_token_count(backend))
    state.cancel = threading.Event()
    with st.chat_message("assistant"):
        stop_button()
        events = backend.stream(
            [*controls.system, *state.messages, user_message], controls.params, state.cancel
        )
        try:
            stream_answer(events, turn)
        except VisionInputError as exc:
            fail_turn(turn, str(exc))
        except VisionLoadError as exc:
            fail_turn(turn, TurnError(str(exc), kind=exc.kind, values=exc.values))
        except ServerGone as exc:
            fail_turn(turn, model_failure(exc))
        except Exception as exc:
            fail_turn(turn, t("model.vision_failed", why=f"{type(exc).__name__}: {exc}"))
    session.end_turn(state, turn)
    st.rerun()
