"""The conversation's folder seen from the app: safe uploads, safe reads, and what a cell changed.

Each of these mounts the folder's filesystem for its duration where folders have their own
(folderfs.py): an upload past the folder's limit fails like a cell's write would.

The kernel controls everything inside the folder and may swap any file for a symlink at any
moment, so the app never follows a path there: uploads are created with O_EXCL (which refuses an
existing name, symlink or not) and reads walk the path component by component with O_NOFOLLOW.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path, PurePosixPath

from app.sandbox import folderfs, tree

MAX_LISTED_FILES = 2000
MAX_NAME_BYTES = 255  # a filename's limit on Linux filesystems, in bytes
_MAX_SUFFIX_BYTES = 16
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_READ_CHUNK = 1 << 20


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def fit_name(stem: str, suffix: str, tag: str = "") -> str:
    """`stem + tag + suffix` within MAX_NAME_BYTES, cutting the stem (at a character boundary)."""
    room = MAX_NAME_BYTES - len(f"{tag}{suffix}".encode())
    return f"{_cut_utf8(stem, room).rstrip()}{tag}{suffix}"


def safe_name(filename: str) -> str:
    """The last path component of `filename`, without control characters, within 255 bytes and
    keeping its extension; never empty, '.' or '..'."""
    name = PurePosixPath(_UNSAFE.sub("", filename).replace("\\", "/")).name.strip()
    if name in {"", ".", ".."}:
        return "upload"
    path = PurePosixPath(name)
    suffix = path.suffix if len(path.suffix.encode()) <= _MAX_SUFFIX_BYTES else ""
    return fit_name(name.removesuffix(suffix), suffix)


def _candidates(name: str) -> list[str]:
    path = PurePosixPath(name)
    stem, suffix = (path.stem, path.suffix) if path.stem else (name, "")
    return [name, *(fit_name(stem, suffix, f" ({n})") for n in range(2, 1000))]


def save_upload(workdir: Path, filename: str, data: bytes) -> Path:
    """Write an uploaded file into `workdir` (the conversation's /mnt/data) under a sanitised name.

    A name that is taken (by a file, a directory or a symlink the kernel made) becomes "name (2).ext";
    nothing is overwritten or followed. Raises OSError when the file can't be written.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with folderfs.held(workdir):
        return _save(workdir, filename, data)


def _save(workdir: Path, filename: str, data: bytes) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for name in _candidates(safe_name(filename)):
        target = workdir / name
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if os.geteuid() == 0:
                    owner = workdir.stat()
                    os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
        except OSError:
            with contextlib.suppress(OSError):
                target.unlink()
            raise
        return target
    raise FileExistsError(f"too many files named like {filename!r}")


def read_inside(root: Path, relative: str, max_bytes: int) -> bytes | None:
    """The bytes of the regular file `relative` under `root`, or None when it is missing, not a
    regular file, reached through a symlink, outside `root` ('..', absolute) or over `max_bytes`."""
    parts = relative.split("/")  # not PurePosixPath, which would quietly drop "." and empty parts
    if any(part in {"", ".", ".."} or "\x00" in part for part in parts):
        return None
    with folderfs.held(root):
        return _read(root, parts, max_bytes)


def _read(root: Path, parts: list[str], max_bytes: int) -> bytes | None:
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    opened: list[int] = []
    try:
        opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in parts[:-1]:
            opened.append(os.open(part, nofollow | os.O_DIRECTORY, dir_fd=opened[-1]))
        opened.append(os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=opened[-1]))
        info = os.fstat(opened[-1])
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(opened[-1], min(_READ_CHUNK, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) if size <= max_bytes else None
    except OSError:
        return None
    finally:
        for fd in opened:
            os.close(fd)


def snapshot(workdir: Path) -> dict[str, tuple[int, int]]:
    """Regular files under `workdir` (symlinks skipped, never followed), by relative path ->
    (size, mtime_ns); at most MAX_LISTED_FILES. A listing only: read them with `read_inside`."""
    with folderfs.held(workdir):
        return tree.regular_files(workdir, MAX_LISTED_FILES)


def changed_files(workdir: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Relative paths of the files created or modified since `before` was taken."""
    after = snapshot(workdir)
    return [rel for rel, stamp in sorted(after.items()) if before.get(rel) != stamp]
