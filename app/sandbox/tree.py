"""Walks over a conversation folder that never leave it, whatever the kernel does meanwhile.

The kernel may swap any entry for a symlink (to a host path, as the app sees it) between two steps
of a walk. So every walk here is `os.fwalk(follow_symlinks=False)`: each directory is opened relative
to its parent's descriptor and checked to be the directory that was listed, and every entry is
looked at (`stat`, `chown`) relative to that descriptor without following it. A path string is only
ever a label; nothing is opened by it below the root.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

MAX_DEPTH = 64  # folders below this are not walked (listed, measured, handed over)


def _entries(root: Path) -> Iterator[tuple[str, str, int, os.stat_result]]:
    """(relative directory, name, dir_fd, lstat) for every entry under `root`, fd-relative."""
    for top, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        rel = os.path.relpath(top, root)
        entries = dirs + files
        if rel.count(os.sep) >= MAX_DEPTH:
            dirs.clear()  # a cell can nest folders past any recursion or descriptor limit
        for name in entries:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            yield ("" if rel == "." else rel), name, dir_fd, info


def regular_files(root: Path, limit: int) -> dict[str, tuple[int, int]]:
    """Regular files under `root` by relative path -> (size, mtime_ns), at most `limit`."""
    found: dict[str, tuple[int, int]] = {}
    for rel, name, _fd, info in _entries(root):
        if stat.S_ISREG(info.st_mode):
            found[os.path.join(rel, name)] = (info.st_size, info.st_mtime_ns)
            if len(found) >= limit:
                break
    return found


def usage(root: Path, max_entries: int) -> tuple[int, int]:
    """(bytes allocated, entries) under `root`; counting stops past `max_entries`."""
    size = entries = 0
    for _rel, _name, _fd, info in _entries(root):
        entries += 1
        size += info.st_blocks * 512
        if entries > max_entries:
            break
    return size, entries


def chown_tree(root: Path, uid: int) -> None:
    """Give `root` and everything in it to `uid`; symlinks themselves are changed, never followed."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)
    for _rel, name, dir_fd, _info in _entries(root):
        with contextlib.suppress(FileNotFoundError):
            os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
