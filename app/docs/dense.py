"""Dense retrieval: every chunk's windows embedded in the background, cached on disk, ranked by cosine.

A chunk (up to 1,200 weighted characters) is longer than small embedding models read well (all-MiniLM
reads 256 word pieces), and a fact in its middle would be diluted by the rest, so each chunk is embedded
as windows of whole sentences of up to `WINDOW_CHARS`; a chunk scores as its best window.

Embedding runs in one background thread per process, a document at a time in batches, so BM25 answers
at once and the dense ranking joins as soon as all of a question's documents are embedded. Vectors are
kept in the conversation's cache folder by content hash, model and windows, like the parse cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.docs.chunk import sentences, weighted_size
from app.docs.document import Document
from app.docs.embeddings import EmbeddingError, EmbedSettings, get_embedder

WINDOW_CHARS = 500  # weighted like chunks: about 120 tokens of English
BATCH = 32
CANDIDATES = 200  # chunks the dense ranking contributes to the fusion
MEMORY_BYTES = 256 * 2**20
RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class Windows:
    texts: tuple[str, ...]
    owners: np.ndarray  # the chunk of each window

    @property
    def key(self) -> str:
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()[:16]


def windows(document: Document) -> Windows:
    """Each chunk cut into windows of whole sentences up to `WINDOW_CHARS` (a longer sentence alone)."""
    texts: list[str] = []
    owners: list[int] = []
    for index, chunk in enumerate(document.chunks):
        current = ""
        for sentence in (s for line in chunk.text.split("\n") for s in sentences(line)):
            if current and weighted_size(current) + weighted_size(sentence) + 1 > WINDOW_CHARS:
                texts.append(current)
                owners.append(index)
                current = ""
            current = f"{current} {sentence}" if current else sentence
        if current or not any(o == index for o in owners[-1:]):
            texts.append(current or chunk.text)
            owners.append(index)
    return Windows(tuple(texts), np.asarray(owners, dtype=np.int32))


@dataclass(frozen=True)
class DenseStatus:
    """Where the embeddings of a set of documents stand. `error`: the last failure, BM25 goes on alone."""

    model: str
    done: int
    total: int
    error: str = ""

    @property
    def ready(self) -> bool:
        return not self.error and self.done >= self.total


@dataclass
class _Job:
    settings: EmbedSettings
    document: Document
    cache: Path | None
    windows: Windows
    done: int = 0
    error: str = ""
    failed_at: float = 0.0


class DenseIndex:
    """The process's embeddings: a background thread fills them; `status` and `ranking` read them."""

    def __init__(self) -> None:
        self._vectors: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._jobs: dict[tuple[str, str, str], _Job] = {}
        self._queue: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_error = ""  # why the last question couldn't be embedded (it then used BM25 alone)

    def status(self, settings: EmbedSettings, documents: list[Document], cache: Path | None) -> DenseStatus:
        """Counts windows embedded of all; starts the embedding of any document not done or under way."""
        done = total = 0
        error = ""
        for document in documents:
            job = self._job(settings, document, cache)
            total += len(job.windows.texts)
            ready = self._cached(settings, document, cache, job) is not None
            done += len(job.windows.texts) if ready else job.done
            error = error or job.error
        return DenseStatus(settings.name, done, total, error)

    def ranking(
        self, settings: EmbedSettings, question: str, documents: list[Document], cache: Path | None
    ) -> list[tuple[int, int]] | None:
        """The best `CANDIDATES` chunks by cosine similarity to the question, as (document, chunk), best
        first; None while any document's embeddings aren't ready (or the model failed)."""
        if not self.status(settings, documents, cache).ready:
            return None
        per_document = []
        for document in documents:
            job = self._job(settings, document, cache)
            vectors = self._cached(settings, document, cache, job)
            if vectors is None:
                return None
            per_document.append((job.windows.owners, vectors))
        query = self._embed_question(settings, question)
        if query is None:
            return None
        scored: list[tuple[float, int, int]] = []
        for d, (owners, vectors) in enumerate(per_document):
            best = np.full(len(documents[d].chunks), -np.inf, dtype=np.float32)
            np.maximum.at(best, owners, vectors @ query)
            top = np.argsort(-best, kind="stable")[:CANDIDATES]
            scored.extend((float(best[c]), d, int(c)) for c in top)
        scored.sort(key=lambda s: -s[0])
        return [(d, c) for _, d, c in scored[:CANDIDATES]]

    def _embed_question(self, settings: EmbedSettings, question: str) -> np.ndarray | None:
        """The question's vector; a model worker that failed is replaced and asked once more (a worker is
        stopped after any error, and `get_embedder` starts a new one)."""
        for attempt in range(2):
            try:
                return get_embedder(settings).embed([question])[0]
            except EmbeddingError as exc:
                self.last_error = str(exc)
                if attempt:
                    return None
        return None

    def _key(self, settings: EmbedSettings, document: Document, cache: Path | None) -> tuple[str, str, str]:
        return (str(cache or ""), document.sha256, settings.fingerprint)

    def _job(self, settings: EmbedSettings, document: Document, cache: Path | None) -> _Job:
        key = self._key(settings, document, cache)
        with self._lock:
            job = self._jobs.get(key)
            retry = job is not None and job.error and time.monotonic() - job.failed_at > RETRY_AFTER_S
            fresh = job is None or retry
            if fresh:
                job = self._jobs[key] = _Job(settings, document, cache, windows(document))
        if fresh and self._load(key, job) is None:
            self._queue.put(key)
            self._start()
        return job

    def _cached(
        self, settings: EmbedSettings, document: Document, cache: Path | None, job: _Job
    ) -> np.ndarray | None:
        key = self._key(settings, document, cache)
        with self._lock:
            vectors = self._vectors.get(key)
            if vectors is not None:
                self._vectors.move_to_end(key)
                return vectors
        return self._load(key, job)

    def _path(self, job: _Job) -> Path | None:
        if job.cache is None:
            return None
        name = f"{job.document.sha256}.dense-{job.settings.fingerprint}-{job.windows.key}.npy"
        return job.cache / name

    def _load(self, key: tuple[str, str, str], job: _Job) -> np.ndarray | None:
        path = self._path(job)
        if path is None:
            return None
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if vectors.ndim != 2 or len(vectors) != len(job.windows.texts):
            return None
        self._remember(key, vectors)
        return vectors

    def _remember(self, key: tuple[str, str, str], vectors: np.ndarray) -> None:
        with self._lock:
            if key in self._vectors:
                self._bytes -= self._vectors.pop(key).nbytes
            self._vectors[key] = vectors
            self._bytes += vectors.nbytes
            while len(self._vectors) > 1 and self._bytes > MEMORY_BYTES:
                self._bytes -= self._vectors.popitem(last=False)[1].nbytes

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="dense-embeddings", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                key = self._queue.get(timeout=5)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            job = self._jobs.get(key)
            if job is not None and not job.error:
                self._embed(key, job)

    def _embed(self, key: tuple[str, str, str], job: _Job) -> None:
        texts = job.windows.texts
        parts = []
        try:
            embedder = get_embedder(job.settings)
            for start in range(0, len(texts), BATCH):
                parts.append(embedder.embed(list(texts[start : start + BATCH])))
                job.done = min(len(texts), start + BATCH)
        except EmbeddingError as exc:
            job.error, job.failed_at = str(exc), time.monotonic()
            return
        vectors = np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
        self._remember(key, vectors)
        self._save(job, vectors)

    def _save(self, job: _Job, vectors: np.ndarray) -> None:
        """Best effort, like the parse cache: a full disk costs only the cache."""
        path = self._path(job)
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            buffer = io.BytesIO()
            np.save(buffer, vectors, allow_pickle=False)
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)


dense_index = DenseIndex()
