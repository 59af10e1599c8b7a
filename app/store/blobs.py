"""Attachment bytes (plots, uploaded images) as files beside the conversation, not in SQLite.

Each blob is named by its SHA-256 and lives in the conversation's `blobs/` folder, next to (not in)
the code interpreter's `data/` folder, so no kernel can reach it. Files are written and synced
before the row naming them is committed, and read only when shown, without following links.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

BLOBS = "blobs"
MAX_BLOB_BYTES = 64 * 2**20
_NAME = re.compile(r"[0-9a-f]{64}")


def blob_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_blob(folder: Path, data: bytes) -> str:
    """Keep `data` in `folder` (created 0700) under its hash, once; returns the name."""
    name = blob_name(data)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    if path.exists():
        return name
    partial = folder / f"{name}.{os.getpid()}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    return name


def read_blob(folder: Path, name: str, max_bytes: int = MAX_BLOB_BYTES) -> bytes | None:
    """The blob's bytes, or None when it is missing, not a regular file, a link, or too large."""
    if not _NAME.fullmatch(name):
        return None
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(max_bytes + 1)
        return data if len(data) <= max_bytes else None
    except OSError:
        return None
    finally:
        os.close(fd)
