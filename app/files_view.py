"""Sidebar: the session's /mnt/data (uploads in, produced files and the notebook out)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.sandbox import notebook_bytes, sandbox_warning, save_upload
from app.sandbox.files import snapshot

MAX_FILES_SHOWN = 30
ANNOUNCE = "uploads-to-announce"


def session_files_sidebar(workdir: Path, session_id: str) -> None:
    """Uploads land in /mnt/data (names sanitised); the next question tells the model about them."""
    if warning := sandbox_warning():
        st.warning(warning, icon=":material/shield:")
    st.subheader("Files (/mnt/data)")
    saved: set[str] = st.session_state.setdefault("uploads-saved", set())
    for upload in st.file_uploader("Upload files", accept_multiple_files=True, key="chat-uploads") or []:
        if upload.file_id not in saved:
            path = save_upload(workdir, upload.name, upload.getvalue())
            saved.add(upload.file_id)
            st.session_state.setdefault(ANNOUNCE, []).append(path.name)
    files = sorted(snapshot(workdir))[:MAX_FILES_SHOWN]
    for i, name in enumerate(files):
        st.download_button(
            name,
            (workdir / name).read_bytes(),
            file_name=Path(name).name,
            key=f"file-{i}",
            icon=":material/download:",
        )
    st.download_button(
        "Notebook (.ipynb)",
        notebook_bytes(session_id),
        file_name="glm-studio-session.ipynb",
        mime="application/x-ipynb+json",
        icon=":material/book:",
    )


def with_upload_note(question: str) -> str:
    """The question, followed by a note of files uploaded since the last question."""
    names = st.session_state.pop(ANNOUNCE, [])
    if not names:
        return question
    listed = ", ".join(f"/mnt/data/{name}" for name in names)
    return f"{question}\n\n(Uploaded files: {listed})"
