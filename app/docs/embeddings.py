"""Sentence embeddings for dense retrieval: a local sentence-transformers model or an OpenAI-compatible
`/v1/embeddings` endpoint, whichever is configured (neither: dense retrieval is off).

- `GLM_EMBED_MODEL`: a folder or hub id, loaded with sentence-transformers in a child process with the
  document parser's sandbox and limits (`embed_worker`); a hub id must already be in the local cache
  unless the hub is reachable.
- `GLM_EMBED_API_BASE`, `GLM_EMBED_API_KEY`, `GLM_EMBED_API_MODEL`: an embeddings server (vLLM serving
  bge-m3, the Zhipu platform's embedding-3, ...). Takes precedence over a local model.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from app.docs.errors import DocumentError
from app.docs.limits import parse_memory_mb, parse_timeout_s

LOAD_TIMEOUT_S = 300.0  # starting Python, torch and the model, on a busy machine


class EmbeddingError(RuntimeError):
    """The embedding model couldn't be loaded or failed; retrieval goes on with BM25 alone."""


@dataclass(frozen=True)
class EmbedSettings:
    model: str = ""
    api_base: str = ""
    api_key: str = "EMPTY"
    api_model: str = ""

    @property
    def name(self) -> str:
        """How the UI names it, and what the disk cache is keyed by."""
        return f"{self.api_model} at {self.api_base}" if self.api_base else self.model

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()[:16]


def embed_settings() -> EmbedSettings | None:
    """The configured embedding model, read from the environment when called; None when there is none."""
    api_base = os.environ.get("GLM_EMBED_API_BASE", "").strip()
    model = os.environ.get("GLM_EMBED_MODEL", "").strip()
    if api_base:
        api_model = os.environ.get("GLM_EMBED_API_MODEL", "").strip() or model
        return EmbedSettings(
            api_base=api_base, api_key=os.environ.get("GLM_EMBED_API_KEY", "EMPTY"), api_model=api_model
        )
    return EmbedSettings(model=model) if model else None


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class ApiEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint."""

    def __init__(self, settings: EmbedSettings) -> None:
        from openai import OpenAI

        self.model = settings.api_model
        self._client = OpenAI(base_url=settings.api_base, api_key=settings.api_key, max_retries=1, timeout=60)

    def embed(self, texts: list[str]) -> np.ndarray:
        try:
            answer = self._client.embeddings.create(model=self.model, input=texts)
        except Exception as exc:  # the server said no or went away: the caller falls back to BM25
            raise EmbeddingError(f"the embeddings server failed: {type(exc).__name__}: {exc}") from exc
        rows = sorted(answer.data, key=lambda d: d.index)
        return _unit(np.asarray([row.embedding for row in rows], dtype=np.float32))


class WorkerEmbedder:
    """A sentence-transformers model in a sandboxed child process, one request at a time."""

    def __init__(self, settings: EmbedSettings) -> None:
        from app.docs.isolate import Worker

        folder = _local_folder(settings.model)
        program = ("-m", "app.docs.embed_worker", folder, str(parse_memory_mb()))
        self._worker = Worker.start(program, read_only=[folder])
        self._lock = threading.Lock()
        try:
            line = self._worker.lines.get(timeout=LOAD_TIMEOUT_S)
        except queue.Empty:
            line = b""
        if not line.startswith(b'{"ready"'):
            self._worker.stop()
            raise EmbeddingError(f"the embedding model {settings.model!r} could not be loaded")

    def embed(self, texts: list[str]) -> np.ndarray:
        job = {
            "task": "embed",
            "name": "embeddings",
            "memory_mb": parse_memory_mb(),
            "cpu_s": parse_timeout_s(),
        }
        with self._lock:
            try:
                record = self._worker.run(job, json.dumps(texts).encode(), parse_timeout_s(), keep=True)
            except DocumentError as exc:
                raise EmbeddingError(f"the embedding model stopped: {exc.reason}") from exc
        vectors = np.frombuffer(base64.b64decode(record["vectors"]), dtype=np.float32)
        return vectors.reshape(record["shape"])

    def alive(self) -> bool:
        return self._worker.alive()

    def stop(self) -> None:
        self._worker.stop()


def _local_folder(model: str) -> str:
    """A local folder as is; a hub id as its folder in the local cache (downloaded if the hub answers)."""
    if Path(model).is_dir():
        return str(Path(model).resolve())
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, local_files_only=True)
    except Exception:
        try:
            return snapshot_download(model, etag_timeout=5)
        except Exception as exc:
            raise EmbeddingError(
                f"the embedding model {model!r} is neither a folder nor reachable: {exc}"
            ) from exc


_embedder: Embedder | None = None
_embedder_key: EmbedSettings | None = None
_embedder_lock = threading.Lock()


def get_embedder(settings: EmbedSettings) -> Embedder:
    """One embedder per process for the configured model (loaded on first use, again if its worker died)."""
    global _embedder, _embedder_key
    with _embedder_lock:
        stale = _embedder is not None and (
            _embedder_key != settings or (isinstance(_embedder, WorkerEmbedder) and not _embedder.alive())
        )
        if stale:
            if isinstance(_embedder, WorkerEmbedder):
                _embedder.stop()
            _embedder = None
        if _embedder is None:
            _embedder = ApiEmbedder(settings) if settings.api_base else WorkerEmbedder(settings)
            _embedder_key = settings
        return _embedder


def shutdown() -> None:
    global _embedder
    with _embedder_lock:
        if isinstance(_embedder, WorkerEmbedder):
            _embedder.stop()
        _embedder = None
