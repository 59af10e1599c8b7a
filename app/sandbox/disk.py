"""The working folder's size, watched while a cell runs, where the folder is not a filesystem of its
own (folderfs.py: the app is not root), so a cell can't fill the data disk.

Filesystem quotas aren't assumed (the data directory is usually a plain ext4 without them), and
`prlimit --fsize` only bounds each file. So the folder is measured every CHECK_EVERY_S seconds of a
running cell, and the cell is stopped once the folder passes its size or its number of entries
(tiny files exhaust inodes). It may overshoot by what a cell writes in those seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.sandbox import tree

CHECK_EVERY_S = 2.0
MAX_ENTRIES = 100_000


def usage(folder: Path, max_entries: int = MAX_ENTRIES) -> tuple[int, int]:
    """(bytes allocated, entries) under `folder`; counting stops past `max_entries`."""
    return tree.usage(folder, max_entries)


@dataclass
class DiskWatch:
    """Asked often (each poll of a running cell); measures at most every CHECK_EVERY_S seconds."""

    folder: Path
    limit_mb: int
    next_check: float = 0.0
    reason: str | None = None
    enforced: bool = False  # the folder is a filesystem of its own (folderfs.py): nothing to watch

    @classmethod
    def starting_now(cls, folder: Path, limit_mb: int, enforced: bool = False) -> DiskWatch:
        """The first measurement waits CHECK_EVERY_S: short cells cost nothing."""
        return cls(folder, limit_mb, next_check=time.monotonic() + CHECK_EVERY_S, enforced=enforced)

    def exceeded(self) -> bool:
        now = time.monotonic()
        if not self.enforced and self.reason is None and now >= self.next_check:
            self.next_check = now + CHECK_EVERY_S
            size, entries = usage(self.folder)
            if size > self.limit_mb * 1024 * 1024:
                self.reason = f"the working folder passed its {self.limit_mb} MB limit"
            elif entries > MAX_ENTRIES:
                self.reason = f"the working folder passed {MAX_ENTRIES} files"
        return self.reason is not None
