"""The session folder seen from the app: safe uploads and what a cell created or changed."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

MAX_LISTED_FILES = 2000
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def safe_name(filename: str) -> str:
    """The last path component of `filename`, without control characters; never empty, '.' or '..'."""
    name = PurePosixPath(_UNSAFE.sub("", filename).replace("\\", "/")).name.strip()
    if name in {"", ".", ".."}:
        return "upload"
    return name[:200]


def save_upload(workdir: Path, filename: str, data: bytes) -> Path:
    """Write an uploaded file into `workdir` (the session's /mnt/data) under a sanitised name.

    A symlink the kernel left under that name is replaced, never followed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / safe_name(filename)
    if target.is_symlink():
        target.unlink()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if os.geteuid() == 0:
        owner = workdir.stat()
        os.chown(target, owner.st_uid, owner.st_gid)
    return target


def snapshot(workdir: Path) -> dict[str, tuple[int, int]]:
    """Regular files under `workdir` (symlinks skipped) -> (size, mtime_ns); at most MAX_LISTED_FILES."""
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(workdir):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not os.path.islink(path) and os.path.isfile(path):
                found[os.path.relpath(path, workdir)] = (info.st_size, info.st_mtime_ns)
            if len(found) >= MAX_LISTED_FILES:
                return found
    return found


def changed_files(workdir: Path, before: dict[str, tuple[int, int]]) -> list[Path]:
    """Files created or modified since `before` was taken."""
    after = snapshot(workdir)
    return [workdir / rel for rel, stamp in sorted(after.items()) if before.get(rel) != stamp]
