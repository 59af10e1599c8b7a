"""A conversation's documents: originals kept with the conversation, the list in its tool state (saved at
once, so a reload right after an upload or a removal loses nothing), the parse cache in its own folder.

Deleting the conversation deletes its folder, and so all of it. A missing cache entry is parsed again from
the kept original.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any

from app.docs.document import Document
from app.docs.errors import DocumentError
from app.docs.parse import Progress
from app.docs.store import cached_document, load_document
from app.store import Store

CACHE_FOLDER = "doc_cache"


def distinct_name(name: str, taken: Collection[str]) -> str:
    """`name`, or "report (2).pdf", "report (3).pdf"... when a different file already has that name."""
    if name not in taken:
        return name
    path = PurePath(name)
    n = 2
    while f"{path.stem} ({n}){path.suffix}" in taken:
        n += 1
    return f"{path.stem} ({n}){path.suffix}"


@dataclass(frozen=True)
class Shelf:
    """The documents of one saved conversation of one user."""

    store: Store
    user: str
    conversation_id: str

    def cache(self) -> Path:
        return self.store.conversation_dir(self.user, self.conversation_id) / CACHE_FOLDER

    def add(
        self, tool_state: dict[str, Any], name: str, data: bytes, progress: Progress | None = None
    ) -> Document:
        """Parse and index a file, keep its original and list it; the same content twice is listed once.

        Raises a `DocumentError` (nothing is kept then).
        """
        doc = load_document(name, data, progress, self.cache())
        self.store.attach_document(self.user, self.conversation_id, name, data)  # again: restores a lost copy
        entries = tool_state.setdefault("documents", [])
        listed = next((e for e in entries if e["sha256"] == doc.sha256), None)
        if listed is not None:
            return replace(doc, name=listed["name"])
        shown = distinct_name(name, {e["name"] for e in entries})
        entries.append({"name": shown, "sha256": doc.sha256})
        self.store.set_tool_state(self.user, self.conversation_id, tool_state)
        return replace(doc, name=shown)

    def remove(self, tool_state: dict[str, Any], sha256: str) -> None:
        tool_state["documents"] = [e for e in tool_state.get("documents", []) if e["sha256"] != sha256]
        self.store.set_tool_state(self.user, self.conversation_id, tool_state)

    def open(
        self,
        tool_state: dict[str, Any],
        progress_for: Callable[[str], Progress | None],
        skip: Collection[str] = (),
    ) -> tuple[list[Document], dict[str, str]]:
        """The listed documents, from the cache or parsed again from their originals; and, by content hash,
        why any of them can't be opened. Hashes in `skip` (failed before) aren't tried again.
        """
        docs: list[Document] = []
        problems: dict[str, str] = {}
        originals: dict[str, str] | None = None
        cache = self.cache()
        for entry in tool_state.get("documents", []):
            name, sha = entry["name"], entry["sha256"]
            if sha in skip:
                continue
            doc = cached_document(sha, name, cache)
            if doc is None:
                if originals is None:
                    stored = self.store.load_conversation(self.user, self.conversation_id).documents
                    originals = {d.sha256: d.path for d in stored}
                try:
                    doc = self._reparse(name, originals.get(sha), progress_for(name), cache)
                except DocumentError as exc:
                    problems[sha] = str(exc)
                    continue
            docs.append(doc)
        return docs, problems

    def original(self, sha256: str) -> bytes | None:
        """The kept original of a file of the conversation, or None when it is no longer stored."""
        stored = self.store.load_conversation(self.user, self.conversation_id).documents
        path = next((d.path for d in stored if d.sha256 == sha256), None)
        try:
            return Path(path).read_bytes() if path else None
        except OSError:
            return None

    def _reparse(self, name: str, path: str | None, progress: Progress | None, cache: Path) -> Document:
        try:
            data = Path(path).read_bytes() if path else None
        except OSError:
            data = None
        if data is None:
            raise DocumentError(name, "the original file is no longer stored; please upload it again")
        return load_document(name, data, progress, cache)
