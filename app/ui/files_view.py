"""Sidebar: the open conversation's working folder (uploads in, produced files out)."""

from __future__ import annotations

import mimetypes
from functools import partial
from pathlib import Path

import streamlit as st

from app.docs.limits import max_upload_mb
from app.sandbox import (
    KernelLimits,
    folder_space,
    memory_note,
    read_inside,
    sandbox_warning,
    save_upload,
)
from app.sandbox.files import snapshot
from app.sandbox.spec import MOUNT_POINT
from app.ui.i18n import t
from app.ui.render import plain
from app.ui.style import uploader_words

MAX_FILES_SHOWN = 30
# Bigger files are listed but not offered here: a download is held in the app's memory.
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
ANNOUNCE = "uploads-to-announce"  # folder -> names saved there since the last question
SHOWN_FOLDER = "uploads-folder"  # the folder this run's sidebar showed


def read_download(workdir: Path, name: str) -> bytes:
    """Called only when the user clicks a download: the file as it is then, never through a symlink
    or out of `workdir` (the sidebar's files and the chat's produced files alike)."""
    data = read_inside(workdir, name, MAX_DOWNLOAD_BYTES)
    if data is None:
        raise FileNotFoundError(f"{name} is gone, too large or no longer a regular file")
    return data


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def _save_uploads(workdir: Path, open_: bool) -> None:
    """Each upload is saved once (a failure is shown once, then dropped); saved names are announced.
    The widget states the real limit: `GLM_MAX_UPLOAD_MB` per file, and what the conversation's folder
    has left (uploads count against `GLM_KERNEL_DISK_MB` like the kernel's own files); both are checked
    here too, not only by the browser."""
    handled: set[str] = st.session_state.setdefault("uploads-saved", set())
    limit = max_upload_mb()
    free = folder_space(workdir).free
    help_text = t("files.upload_help", mb=limit) + " " + t("files.upload_free", free=_size(free))
    allowed = max(1, min(limit, free // 2**20))
    uploads = st.file_uploader(
        t("files.upload"),
        accept_multiple_files=True,
        key="chat-uploads",
        max_upload_size=allowed,
        disabled=not open_,
        help=help_text if open_ else t("files.upload_busy"),
    )
    uploader_words("chat-uploads", allowed)
    for upload in uploads or []:
        if upload.file_id in handled:
            continue
        handled.add(upload.file_id)
        if upload.size > limit * 2**20:
            st.error(t("files.too_big", name=plain(upload.name), mb=limit), icon=":material/error:")
            continue
        if upload.size > free:
            st.error(t("files.no_room", name=plain(upload.name), free=_size(free)), icon=":material/error:")
            continue
        free -= upload.size
        try:
            path = save_upload(workdir, upload.name, upload.getvalue())
        except OSError as exc:
            st.error(
                t("files.not_saved", name=plain(upload.name), why=plain(str(exc.strerror or exc))),
                icon=":material/error:",
            )
            continue
        st.session_state.setdefault(ANNOUNCE, {}).setdefault(str(workdir), []).append(path.name)


@st.fragment
def session_files_sidebar(workdir: Path, uploads_open: bool = True) -> None:
    """Uploads land in the conversation's folder (names sanitised); the next question tells the model
    about them (`uploads_open=False` while an answer streams). In a fragment, so an upload reruns only
    this part, and one made while an answer streams all the same (after an edited question, say) waits
    for the answer to end instead of stopping it. Files are read only when a download is clicked, and a
    click doesn't rerun the page (a rerun replaces the deferred download the browser is fetching)."""
    if warning := sandbox_warning():
        st.warning(warning, icon=":material/shield:")
    if note := memory_note():
        st.info(note, icon=":material/memory:")
    sandboxed = KernelLimits.from_env().sandbox
    st.subheader(t("files.title_sandbox", folder=MOUNT_POINT) if sandboxed else t("files.title_workdir"))
    st.session_state[SHOWN_FOLDER] = str(workdir)
    _save_uploads(workdir, uploads_open)
    for i, (name, (size, _)) in enumerate(sorted(snapshot(workdir).items())[:MAX_FILES_SHOWN]):
        if size > MAX_DOWNLOAD_BYTES:
            st.caption(t("files.too_large", name=plain(name), size=_size(size)))
            continue
        st.download_button(
            plain(name),
            partial(read_download, workdir, name),
            file_name=Path(name).name,
            mime=mimetypes.guess_type(name)[0] or "application/octet-stream",
            key=f"file-{i}",
            on_click="ignore",
            icon=":material/download:",
        )


def with_upload_note(question: str) -> str:
    """The question, followed by a note of files uploaded (into the open conversation's folder) since
    the last question."""
    names = st.session_state.get(ANNOUNCE, {}).pop(st.session_state.get(SHOWN_FOLDER, ""), [])
    if not names:
        return question
    sandboxed = KernelLimits.from_env().sandbox
    listed = ", ".join(f"{MOUNT_POINT}/{name}" if sandboxed else name for name in names)
    where = "" if sandboxed else " in the working directory"
    return f"{question}\n\n(Uploaded files{where}: {listed})"
