"""Upload to indexed `Document`, cached by content hash in memory and on disk (`data_dir()/doc_cache`)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from app.config import data_dir
from app.docs.chunk import chunk_pages
from app.docs.document import Chunk, Document, Page
from app.docs.errors import DocumentError, UnsafeDocument
from app.docs.isolate import parse_isolated, prestart
from app.docs.limits import max_upload_mb
from app.docs.parse import Progress
from app.docs.tokens import search_terms

_FORMAT = 1
_MEMORY_SIZE = 16
_memory: OrderedDict[str, Document | DocumentError] = OrderedDict()
_lock = threading.Lock()


def load_document(name: str, data: bytes, progress: Progress | None = None) -> Document:
    """Parse (in a limited child process), chunk and index a file, or take it from the cache.

    Raises a `DocumentError` whose text is meant for the user; a file that failed once fails again at once.
    """
    limit = max_upload_mb()
    if len(data) > limit * 2**20:
        raise UnsafeDocument(
            name, f"the file is {len(data) / 2**20:.1f} MiB; the upload limit is {limit} MiB"
        )
    sha = hashlib.sha256(data).hexdigest()
    cached = _remember(sha) or _read_disk(sha)
    if isinstance(cached, DocumentError):
        raise type(cached)(name, cached.reason)
    if cached is None:
        indexer = _Indexer()
        try:
            kind, _ = parse_isolated(name, data, progress, on_pages=indexer.add)
        except DocumentError as exc:
            _remember(sha, exc)
            raise
        finally:
            prestart()
        cached = indexer.document(name, sha, kind)
        _write_disk(cached)
    _remember(sha, cached)
    if progress is not None:
        progress(len(cached.pages), len(cached.pages))
    return replace(cached, name=name)


def cached_document(sha256: str, name: str) -> Document | None:
    """A file parsed before (this process or an earlier one), by content hash; None if it isn't cached."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    cached = _remember(sha256) or _read_disk(sha256)
    if not isinstance(cached, Document):
        return None
    _remember(sha256, cached)
    return replace(cached, name=name)


def make_document(name: str, sha256: str, kind: str, pages: list[Page] | tuple[Page, ...]) -> Document:
    indexer = _Indexer()
    indexer.add(list(pages))
    return indexer.document(name, sha256, kind)


class _Indexer:
    """Chunks and search terms, built batch by batch while the parser reads on."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.chunks: list[Chunk] = []
        self.terms: list[tuple[str, ...]] = []

    def add(self, batch: list[Page]) -> None:
        chunks = chunk_pages(batch, first=len(self.pages))
        self.pages.extend(batch)
        self.chunks.extend(chunks)
        self.terms.extend(tuple(search_terms(c.text)) for c in chunks)

    def document(self, name: str, sha256: str, kind: str) -> Document:
        return Document(name, sha256, kind, tuple(self.pages), tuple(self.chunks), tuple(self.terms))


def cache_dir() -> Path:
    path = data_dir() / "doc_cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_memory_cache() -> None:
    with _lock:
        _memory.clear()


def _remember(sha: str, value: Document | DocumentError | None = None) -> Document | DocumentError | None:
    with _lock:
        if value is not None:
            _memory[sha] = value
            while len(_memory) > _MEMORY_SIZE:
                _memory.popitem(last=False)
        elif sha in _memory:
            _memory.move_to_end(sha)
        return _memory.get(sha)


def _read_disk(sha: str) -> Document | None:
    path = cache_dir() / f"{sha}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("format") != _FORMAT:
        return None
    return make_document(
        raw["name"], sha, raw["kind"], [Page(n, label, text) for n, label, text in raw["pages"]]
    )


def _write_disk(doc: Document) -> None:
    """Best effort: a full or read-only disk costs only the cache, not the upload."""
    path = cache_dir() / f"{doc.sha256}.json"
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    pages = [[p.number, p.label, p.text] for p in doc.pages]
    record = {"format": _FORMAT, "name": doc.name, "kind": doc.kind, "pages": pages}
    try:
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
