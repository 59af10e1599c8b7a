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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.sandbox.owner import owner_tag

_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "glm-kernel-"
# Cgroups without an owner tag (made by older versions) are removed once empty and older than this.
STALE_S = 300.0
_swept: set[Path] = set()
CPU_PERIOD_US = 100_000
# Under contention a cgroup weighs as much as one runnable thread (1024) unless told otherwise; a cell
# that prints keeps two busy (its own and ipykernel's I/O thread), so a kernel weighs two.
CPU_SHARES = 2048


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
    def create(cls, limit_mb: int, cpus: float | None = None) -> MemoryCgroup | None:
        """With cgroup v2 and the cpu controller delegated, `cpus` is also set here (v1: CpuCgroup)."""
        layout = _layout()
        if layout is None:
            return None
        if layout.parent not in _swept:
            _swept.add(layout.parent)
            _sweep(layout.parent)
        path = layout.parent / f"{_PREFIX}{owner_tag()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            for name in layout.limit_files:
                if (path / name).exists():
                    (path / name).write_text(str(limit_mb * 1024 * 1024))
            if cpus is not None and (path / "cpu.max").exists():
                (path / "cpu.max").write_text(f"{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
                (path / "cpu.weight").write_text(str(CPU_SHARES * 100 // 1024))
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
        _remove(self.path)


def _remove(path: Path) -> None:
    """Kill whatever is still inside, then delete the cgroup (it must be empty first)."""
    for _ in range(50):
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _cpu_parent() -> Path | None:
    """The cgroup v1 `cpu` hierarchy's folder of this process, when it may have children."""
    own = _own_path("cpu")
    v1 = _ROOT / "cpu" / (own or "").lstrip("/")
    if own is not None and _writable(v1) and (v1 / "cpu.cfs_quota_us").exists():
        return v1
    return None


@dataclass
class CpuCgroup:
    """One kernel's CPU cgroup (cgroup v1): its processes together get `cpus` cores' worth of time
    per CPU_PERIOD_US, so threads or processes a cell leaves running can't starve other sessions."""

    path: Path

    @classmethod
    def create(cls, cpus: float) -> CpuCgroup | None:
        parent = _cpu_parent()
        if parent is None:
            return None
        path = parent / f"{_PREFIX}{owner_tag()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(int(cpus * CPU_PERIOD_US)))
            (path / "cpu.shares").write_text(str(CPU_SHARES))
        except OSError:
            _remove(path)
            return None
        return cls(path)

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def stat(self) -> dict[str, int]:
        """cpu.stat: `nr_periods`, `nr_throttled`, `throttled_time` (ns)."""
        try:
            lines = (self.path / "cpu.stat").read_text().splitlines()
        except OSError:
            return {}
        return {k: int(v) for k, _, v in (line.partition(" ") for line in lines)}

    def remove(self) -> None:
        _remove(self.path)


def sweep_dead(owner_alive: Callable[[str], bool]) -> list[Path]:
    """Remove the kernel cgroups of apps that are gone (killing what is still inside)."""
    layout, cpu = _layout(), _cpu_parent()
    parents = [p for p in (layout.parent if layout else None, cpu) if p is not None]
    removed = []
    for path in (path for parent in parents for path in parent.glob(f"{_PREFIX}*")):
        if not owner_alive(path.name):
            _remove(path)
            if not path.exists():
                removed.append(path)
    return removed


def _sweep(parent: Path) -> None:
    """Remove empty kernel cgroups older than STALE_S (a young empty one may be about to be used)."""
    for path in parent.glob(f"{_PREFIX}*"):
        try:
            stale = time.time() - path.stat().st_mtime > STALE_S
            if stale and not (path / "cgroup.procs").read_text().strip():
                path.rmdir()
        except OSError:
            continue
