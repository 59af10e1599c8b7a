"""Downloads reach only the session that asked for them.

Streamlit serves a download at `/media/<id>` to any client holding the URL, for as long as the id
lives. Every download here is built when its button is clicked (a deferred `st.download_button`),
so its URL exists only after the click and is sent only over the clicking session's websocket; this
module makes that URL answer only the clicking browser's own fetches and then vanish: Streamlit's
frontend fetches it exactly twice (a check, then the download itself), so the third fetch, or any
fetch a minute after the click, gets 404. Images never get a URL at all (`app/ui/images_view.py`).
"""

from __future__ import annotations

import os
import threading
import time

from streamlit.runtime import Runtime
from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import (
    MemoryFile,
    MemoryMediaFileStorage,
    get_extension_for_mimetype,
)

FETCHES = 2  # the frontend's check, then the download
LIFETIME_S = 60.0


class OneTimeDownloads(MemoryMediaFileStorage):
    """Streamlit's in-memory media storage, except that a download answers `FETCHES` fetches within
    `LIFETIME_S` of its creation and is then forgotten."""

    def _downloads(self) -> dict[str, tuple[float, int]]:
        """file id -> (created, fetches so far), for downloads (set up on first use: the class is
        swapped onto a live instance)."""
        return self.__dict__.setdefault("_download_fetches", {})

    def load_and_get_id(
        self, path_or_data: str | bytes, mimetype: str, kind: MediaFileKind, filename: str | None = None
    ) -> str:
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        if kind == MediaFileKind.DOWNLOADABLE:
            with _lock:
                self._downloads()[file_id] = (time.monotonic(), 0)
        return file_id

    def get_file(self, filename: str) -> MemoryFile:
        file_id = os.path.splitext(filename)[0]
        media_file = super().get_file(filename)
        if media_file.kind != MediaFileKind.DOWNLOADABLE:
            return media_file
        with _lock:
            created, fetches = self._downloads().get(file_id, (0.0, FETCHES))
            if fetches >= FETCHES or time.monotonic() - created > LIFETIME_S:
                self._downloads().pop(file_id, None)
                self.delete_file(file_id)
                raise MediaFileStorageError(f"download {file_id} was already fetched or has expired")
            self._downloads()[file_id] = (created, fetches + 1)
            if fetches + 1 == FETCHES:
                self._downloads().pop(file_id, None)
                self.delete_file(file_id)
        return media_file

    def get_url(self, file_id: str) -> str:
        media_file = super().get_file(file_id)  # naming a file isn't fetching it
        return f"{self._media_endpoint}/{file_id}{get_extension_for_mimetype(media_file.mimetype)}"


_lock = threading.Lock()


def serve_downloads_once() -> None:
    """Switch the running server's media storage to `OneTimeDownloads` (once per process; a no-op
    without a server, as under AppTest, or with a storage other than Streamlit's own)."""
    if not Runtime.exists():
        return
    storage = Runtime.instance().media_file_mgr._storage  # no public hook for this
    if type(storage) is MemoryMediaFileStorage:
        storage.__class__ = OneTimeDownloads
