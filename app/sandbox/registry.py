"""Kernels per browser session: a warm pool, an idle reaper, and shutdown of everything at exit.

A pooled kernel is started with an empty folder of its own mounted at /mnt/data. When a session
takes it, that folder is renamed to the session's folder: the bind mount follows the directory,
so the kernel sees the session's files without a restart. Where the rename is impossible
(another filesystem), the session gets a freshly started kernel instead.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path

from app.config import data_dir
from app.sandbox.errors import KernelStartError, SandboxUnavailableError
from app.sandbox.kernel import Kernel, KernelSession, allocate_uid, chown_tree, release_uid
from app.sandbox.limits import KernelLimits
from app.sandbox.notebook import notebook_from_cells
from app.sandbox.spec import bwrap_path, require_sandbox

_lock = threading.RLock()
_sessions: dict[str, KernelSession] = {}
_pool: list[Kernel] = []
_filling = threading.Event()
_generation = 0
_reaper: threading.Thread | None = None
_filler: threading.Thread | None = None


def _discard(kernel: Kernel) -> None:
    kernel.kill()
    release_uid(kernel.uid)
    shutil.rmtree(kernel.workdir, ignore_errors=True)


def _new_pool_kernel(limits: KernelLimits) -> Kernel:
    root = data_dir() / "kernel-pool"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="slot-", dir=root))
    return Kernel(folder, limits, allocate_uid(limits)).start()


def _fill_pool(limits: KernelLimits, generation: int) -> None:
    try:
        while True:
            with _lock:
                if generation != _generation or len(_pool) >= limits.pool_size:
                    return
            kernel = _new_pool_kernel(limits)
            with _lock:
                if generation == _generation:
                    _pool.append(kernel)
                    continue
            _discard(kernel)
            return
    except (KernelStartError, SandboxUnavailableError, OSError):
        return
    finally:
        _filling.clear()


def warm_pool() -> None:
    """Top up the pool of pre-started kernels in the background (`GLM_KERNEL_POOL`, default 1)."""
    global _filler
    limits = KernelLimits.from_env()
    if limits.pool_size <= 0 or (limits.sandbox and bwrap_path() is None):
        return
    with _lock:
        stale = [k for k in _pool if k.limits != limits or not k.alive()]
        _pool[:] = [k for k in _pool if k not in stale]
        refill = len(_pool) < limits.pool_size and not _filling.is_set()
        if refill:
            _filling.set()
        generation = _generation
    for kernel in stale:
        _discard(kernel)
    if refill:
        _filler = threading.Thread(target=_fill_pool, args=(limits, generation), daemon=True)
        _filler.start()


def _adopt(kernel: Kernel, workdir: Path) -> bool:
    """Make the pooled kernel's folder become `workdir`, keeping anything already uploaded there."""
    try:
        if workdir.exists():
            for entry in workdir.iterdir():
                entry.rename(kernel.workdir / entry.name)
            workdir.rmdir()
        workdir.parent.mkdir(parents=True, exist_ok=True)
        kernel.workdir.rename(workdir)
    except OSError:
        return False
    kernel.workdir = workdir
    chown_tree(workdir, kernel.uid)
    return True


def _from_pool(workdir: Path, limits: KernelLimits) -> Kernel | None:
    with _lock:
        kernel = next((k for k in _pool if k.limits == limits), None)
        if kernel is not None:
            _pool.remove(kernel)
    if kernel is None:
        return None
    if kernel.alive() and _adopt(kernel, workdir):
        return kernel
    _discard(kernel)
    return None


def get_session(session_id: str, workdir: Path) -> KernelSession:
    """The session's kernel, taken from the warm pool (or started) on first use."""
    limits = KernelLimits.from_env()
    require_sandbox(limits)
    with _lock:
        session = _sessions.get(session_id)
    if session is not None:
        return session
    kernel = _from_pool(workdir, limits) or Kernel(workdir, limits, allocate_uid(limits)).start()
    session = KernelSession(session_id, workdir, limits, kernel)
    with _lock:
        existing = _sessions.get(session_id)
        if existing is None:
            _sessions[session_id] = session
    if existing is not None:
        session.close()
        return existing
    _start_reaper()
    warm_pool()
    return session


def interrupt(session_id: str) -> bool:
    """Stop the session's running cell; False when it has no kernel."""
    with _lock:
        session = _sessions.get(session_id)
    if session is None:
        return False
    session.interrupt()
    return True


def shutdown_session(session_id: str) -> None:
    with _lock:
        session = _sessions.pop(session_id, None)
    if session is not None:
        session.close()


def shutdown_all() -> None:
    """Stop every session's kernel and the pool (registered with atexit)."""
    global _generation
    with _lock:
        _generation += 1
        sessions, pool = list(_sessions.values()), list(_pool)
        _sessions.clear()
        _pool.clear()
    for session in sessions:
        session.close()
    for kernel in pool:
        _discard(kernel)
    if _filler is not None and _filler is not threading.current_thread():
        _filler.join(timeout=10)  # a kernel it is starting now is discarded when the start ends


def active_sessions() -> list[str]:
    with _lock:
        return list(_sessions)


def sandbox_warning() -> str | None:
    """A warning for the UI when code would run without isolation, or cannot run at all."""
    limits = KernelLimits.from_env()
    if not limits.sandbox:
        return (
            "The Python sandbox is off (GLM_KERNEL_SANDBOX=off): code the model writes can read and "
            "change your files and reach the network."
        )
    if bwrap_path() is None:
        return (
            "The python tool is disabled: install bubblewrap, "
            "or set GLM_KERNEL_SANDBOX=off to run code unsandboxed."
        )
    return None


def notebook_bytes(session_id: str) -> bytes:
    """The session's executed cells and outputs as an .ipynb file (empty notebook if none)."""
    with _lock:
        session = _sessions.get(session_id)
    return notebook_from_cells(list(session.cells) if session else [])


def _reap_forever() -> None:
    while True:
        idle_s = KernelLimits.from_env().idle_s
        time.sleep(min(1.0, max(0.2, idle_s / 4)))
        now = time.monotonic()
        with _lock:
            idle = [sid for sid, s in _sessions.items() if not s.busy and now - s.last_used > idle_s]
        for session_id in idle:
            shutdown_session(session_id)


def _start_reaper() -> None:
    global _reaper
    with _lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_forever, name="kernel-reaper", daemon=True)
            _reaper.start()


atexit.register(shutdown_all)
