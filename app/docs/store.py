"""Upload to indexed `Document`, cached by content hash in memory and on disk, in a folder the caller names.

The page passes the conversation's own folder, so one user's cache never answers for another (a hit
would tell them someone uploaded the same bytes) and the cache goes when the conversation is deleted.
Only permanent verdicts on a file are remembered (encrypted, unsupported, a bomb); a timeout or a parser
that died is tried again next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from app.config import data_dir
from app.docs.chunk import chunk_pages
from app.docs.document import Chunk, Document, Page
from app.docs.errors import DocumentError, UnsafeDocument
from app.docs.isolate import parse_isolated
from app.docs.limits import max_upload_mb
from app.docs.parse import Progress
from app.docs.tokens import TermsBuilder

_FORMAT = 1
MEMORY_BYTES = 256 * 2**20
_ERROR_BYTES = 1024
_memory: OrderedDict[tuple[str, str], Document | DocumentError] = OrderedDict()
_memory_bytes = 0
_lock = threading.Lock()
_legacy_checked = False


def load_document(
    name: str, data: bytes, progress: Progress | None = None, cache: Path | None = None
) -> Document:
    """Parse (in the sandboxed child process), chunk and index a file, or take it from the cache in `cache`.

    With no `cache` folder only this process's memory remembers it (shared by every such caller).
    Raises a `DocumentError` whose text is meant for the user; a file refused for good fails again at once.
    """
    limit = max_upload_mb()
    if len(data) > limit * 2**20:
        raise UnsafeDocument(name, f"the file is {len(data) / 2**20:.1f} MB; the upload limit is {limit} MB")
    _drop_legacy_cache()
    sha = hashlib.sha256(data).hexdigest()
    key = (str(cache or ""), sha)
    cached = _recall(key) or _read_disk(cache, sha)
    if isinstance(cached, DocumentError):
        raise type(cached)(name, cached.reason)
    if cached is None:
        indexer = _Indexer()
        try:
            owner = str(cache) if cache is not None else None
            kind, _ = parse_isolated(name, data, progress, on_pages=indexer.add, owner=owner)
        except DocumentError as exc:
            if exc.permanent:
                _remember(key, exc)
            raise
        cached = indexer.document(name, sha, kind)
        _write_disk(cache, cached)
    _remember(key, cached)
    if progress is not None:
        progress(len(cached.pages), len(cached.pages))
    return replace(cached, name=name)


def cached_document(sha256: str, name: str, cache: Path | None = None) -> Document | None:
    """A file parsed before into `cache` (by this process or an earlier one); None if it isn't there."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    key = (str(cache or ""), sha256)
    cached = _recall(key) or _read_disk(cache, sha256)
    if not isinstance(cached, Document):
        return None
    _remember(key, cached)
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
        self.terms = TermsBuilder()

    def add(self, batch: list[Page]) -> None:
        chunks = chunk_pages(batch, first=len(self.pages))
        self.pages.extend(batch)
        self.chunks.extend(chunks)
        for chunk in chunks:
            self.terms.add(chunk.text)

    def document(self, name: str, sha256: str, kind: str) -> Document:
        return Document(name, sha256, kind, tuple(self.pages), tuple(self.chunks), self.terms.build())


def clear_memory_cache() -> None:
    global _memory_bytes
    with _lock:
        _memory.clear()
        _memory_bytes = 0


def memory_cache_bytes() -> int:
    """What the cached documents take, as `Document.nbytes` estimates it."""
    return _memory_bytes


def _size(value: Document | DocumentError) -> int:
    return value.nbytes if isinstance(value, Document) else _ERROR_BYTES


def _recall(key: tuple[str, str]) -> Document | DocumentError | None:
    with _lock:
        if key in _memory:
            _memory.move_to_end(key)
        return _memory.get(key)


def _remember(key: tuple[str, str], value: Document | DocumentError) -> None:
    """Keep it, dropping the least recently used once the cache passes `MEMORY_BYTES` (keeping one)."""
    global _memory_bytes
    with _lock:
        if key in _memory:
            _memory_bytes -= _size(_memory.pop(key))
        _memory[key] = value
        _memory_bytes += _size(value)
        while len(_memory) > 1 and _memory_bytes > MEMORY_BYTES:
            _memory_bytes -= _size(_memory.popitem(last=False)[1])


def _read_disk(cache: Path | None, sha: str) -> Document | None:
    if cache is None:
        return None
    try:
        raw = json.loads((cache / f"{sha}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("format") != _FORMAT:
        return None
    return make_document(
        raw["name"], sha, raw["kind"], [Page(n, label, text) for n, label, text in raw["pages"]]
    )


def _write_disk(cache: Path | None, doc: Document) -> None:
    """Best effort: a full or read-only disk costs only the cache, not the upload."""
    if cache is None:
        return
    path = cache / f"{doc.sha256}.json"
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    pages = [[p.number, p.label, p.text] for p in doc.pages]
    record = {"format": _FORMAT, "name": doc.name, "kind": doc.kind, "pages": pages}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _drop_legacy_cache() -> None:
    """Earlier versions kept one parse cache for all users in `data_dir()/doc_cache`: remove it, once."""
    global _legacy_checked
    if not _legacy_checked:
        _legacy_checked = True
        shutil.rmtree(data_dir() / "doc_cache", ignore_errors=True)
