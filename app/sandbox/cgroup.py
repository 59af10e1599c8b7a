"""A memory cgroup per kernel, so the limit covers the kernel's whole process tree and its tmpfs.

`prlimit --as` bounds each process on its own: three children under a 1 GiB limit could hold
800 MB each, and files in the sandbox's /tmp are RAM that no process limit sees. A cgroup bounds
the sum (tmpfs pages are charged to the cgroup of the process that writes them). The app needs a
memory cgroup it may create children in: cgroup v1 as root, or cgroup v2 with the memory
controller delegated to the app's own cgroup. Elsewhere `create` returns None and the limits stay
per process (the UI says so).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "glm-kernel-"
# An app that was killed leaves its kernels' empty cgroups behind; older than this, they are removed.
STALE_S = 300.0
_swept: set[Path] = set()


@dataclass(frozen=True)
class _Layout:
    parent: Path
    limit_files: tuple[str, ...]  # written in this order with the limit in bytes
    oom_file: str  # a "key value" file with an `oom_kill` count


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for `controller` (v1), or its v2 path when `controller` is ""."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else [""]
        if controller in names:
            return path
    return None


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _layout() -> _Layout | None:
    own = _own_path("memory")
    v1 = _ROOT / "memory" / (own or "").lstrip("/")
    if own is not None and _writable(v1) and (v1 / "memory.limit_in_bytes").exists():
        swap = ("memory.memsw.limit_in_bytes",) if (v1 / "memory.memsw.limit_in_bytes").exists() else ()
        return _Layout(v1, ("memory.limit_in_bytes", *swap), "memory.oom_control")
    own = _own_path("")
    v2 = _ROOT / (own or "").lstrip("/")
    try:
        delegated = "memory" in (v2 / "cgroup.subtree_control").read_text().split()
    except OSError:
        delegated = False
    if own is not None and delegated and _writable(v2):
        return _Layout(v2, ("memory.max", "memory.swap.max"), "memory.events")
    return None


def available() -> bool:
    """Whether kernels get a memory cgroup here (aggregate limit) or only per-process limits."""
    return _layout() is not None


@dataclass
class MemoryCgroup:
    """One kernel's cgroup; the launch command writes its own pid to `procs` before exec'ing bwrap."""

    path: Path
    oom_file: str

    @classmethod
    def create(cls, limit_mb: int) -> MemoryCgroup | None:
        layout = _layout()
        if layout is None:
            return None
        if layout.parent not in _swept:
            _swept.add(layout.parent)
            _sweep(layout.parent)
        path = layout.parent / f"{_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            for name in layout.limit_files:
                if (path / name).exists():
                    (path / name).write_text(str(limit_mb * 1024 * 1024))
        except OSError:
            cls(path, layout.oom_file).remove()
            return None
        return cls(path, layout.oom_file)

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        try:
            lines = (self.path / self.oom_file).read_text().splitlines()
        except OSError:
            return 0
        counts = [int(v) for k, _, v in (line.partition(" ") for line in lines) if k == "oom_kill"]
        return counts[0] if counts else 0

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except OSError:
            return []

    def remove(self) -> None:
        """Kill whatever is still inside, then delete the cgroup (it must be empty first)."""
        for _ in range(50):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _sweep(parent: Path) -> None:
    """Remove empty kernel cgroups older than STALE_S (a young empty one may be about to be used)."""
    for path in parent.glob(f"{_PREFIX}*"):
        try:
            stale = time.time() - path.stat().st_mtime > STALE_S
            if stale and not (path / "cgroup.procs").read_text().strip():
                path.rmdir()
        except OSError:
            continue
