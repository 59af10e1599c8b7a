"""One kernel per conversation (its folder), shared by the browser sessions (tabs) that have it open:
a warm pool, a reaper for idle kernels and for sessions whose browser has gone, and shutdown of
everything at exit.

A pooled kernel is started with an empty folder of its own mounted at /mnt/data. When a session
takes it, the conversation folder's files are moved into that folder, which is then renamed onto
the conversation's folder: the bind mount follows the directory (its inode), so the kernel sees the
conversation's files without a restart. Where that is impossible (another filesystem, a file
arriving meanwhile), the session gets a freshly started kernel instead. When the session's open
conversation changes, its kernel is replaced by one for the new folder.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.config import data_dir
from app.sandbox import cgroup, folderfs, fontcache, leftovers, mounts, tree
from app.sandbox.errors import KernelStartError, SandboxUnavailableError
from app.sandbox.kernel import Kernel, KernelSession, allocate_uid, release_uid
from app.sandbox.limits import KernelLimits
from app.sandbox.owner import owner_tag
from app.sandbox.spec import bwrap_path, require_sandbox

# A browser that disconnected may come back (a network blip): its kernel is kept this long.
DISCONNECT_GRACE_S = 10.0

_lock = threading.RLock()
_kernels: dict[Path, KernelSession] = {}  # one per conversation folder
_attached: dict[str, Path] = {}  # browser session -> the folder of the conversation it has open
_starting: dict[Path, threading.Lock] = {}
_liveness: dict[str, Callable[[], bool]] = {}
_gone_since: dict[str, float] = {}
_pool: list[Kernel] = []
_filling = threading.Event()
_generation = 0
_reaper: threading.Thread | None = None
_filler: threading.Thread | None = None
_swept = False


def _pool_root() -> Path:
    return data_dir() / "kernel-pool"


def _discard(kernel: Kernel) -> None:
    kernel.kill()
    release_uid(kernel.uid)
    if kernel.workdir is not None and kernel.workdir.parent == _pool_root():
        shutil.rmtree(kernel.workdir, ignore_errors=True)


def _new_pool_kernel(limits: KernelLimits) -> Kernel:
    """A kernel waiting for a folder: with mounts, one whose /mnt/data is an empty port (see
    Kernel.adopt); otherwise one with an empty slot folder of its own, renamed into place later."""
    if limits.sandbox and mounts.available():
        return Kernel(None, limits, allocate_uid(limits)).start()
    root = _pool_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"slot-{owner_tag()}-", dir=root))
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
    sweep_leftovers()
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
    """Make the pooled kernel's folder become `workdir`, keeping the files already there.

    With mounts the folder is bound on the kernel's port. Otherwise the folder's entries move into
    the kernel's slot folder, which is renamed onto `workdir`: the rename replaces `workdir` only
    while it is empty, so nothing written meanwhile is lost.
    """
    if kernel.port is not None:
        return kernel.adopt(workdir)
    try:
        workdir.parent.mkdir(parents=True, exist_ok=True)
        if workdir.exists():
            for entry in workdir.iterdir():
                entry.rename(kernel.workdir / entry.name)
        kernel.workdir.rename(workdir)
    except OSError:
        return False
    kernel.workdir = workdir
    if kernel.uid is not None:
        tree.chown_tree(workdir, kernel.uid)
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


def sweep_leftovers() -> None:
    """Once per process, before its first kernel: what crashed apps left (see leftovers.py)."""
    global _swept
    with _lock:
        if _swept:
            return
        _swept = True
    leftovers.sweep(pool_root=_pool_root())
    fontcache.font_list()  # start building matplotlib's font list for the kernels to come


def get_session(session_id: str, workdir: Path) -> KernelSession:
    """The kernel of the conversation whose folder is `workdir`, for the browser session `session_id`.

    One kernel per conversation: a second tab (browser session) on the same conversation attaches to
    the running kernel (its cells wait for each other's), never takes the folder away from it. A
    conversation's kernel is taken from the warm pool (or started) on first use; a session that
    opens another conversation is detached from its previous one, which is shut down once no
    session is attached to it.
    """
    limits = KernelLimits.from_env()
    require_sandbox(limits)
    sweep_leftovers()
    with _lock:
        previous = _attached.get(session_id)
    if previous is not None and previous != workdir:
        shutdown_session(session_id)
    with _lock:
        folder_lock = _starting.setdefault(workdir, threading.Lock())
    with folder_lock:  # two tabs opening the conversation at once start one kernel
        with _lock:
            session = _kernels.get(workdir)
            if session is not None:
                _attached[session_id] = workdir
                return session
        kernel = _from_pool(workdir, limits) or Kernel(workdir, limits, allocate_uid(limits)).start()
        session = KernelSession(session_id, workdir, limits, kernel)
        with _lock:
            _kernels[workdir] = session
            _attached[session_id] = workdir
            _starting.pop(workdir, None)
    _start_reaper()
    warm_pool()
    return session


def watch(session_id: str, alive: Callable[[], bool]) -> None:
    """Detach the session once `alive()` has said False for DISCONNECT_GRACE_S (its conversation's
    kernel is shut down when no other session is attached to it).

    The caller knows what a live session is (Streamlit's runtime); this package doesn't import it.
    """
    with _lock:
        _liveness[session_id] = alive
    _start_reaper()


def shutdown_session(session_id: str) -> None:
    """Detach the session; its conversation's kernel stops when it was the last one attached."""
    with _lock:
        folder = _attached.pop(session_id, None)
        last = folder is not None and folder not in _attached.values()
        session = _kernels.pop(folder, None) if last else None
    if session is not None:
        session.close()


def _shutdown_folder(folder: Path) -> None:
    """Stop a conversation's kernel, detaching every session attached to it."""
    with _lock:
        session = _kernels.pop(folder, None)
        for session_id in [sid for sid, f in _attached.items() if f == folder]:
            del _attached[session_id]
    if session is not None:
        session.close()


def release_folder(workdir: Path) -> None:
    """Before a conversation is deleted: stop its kernel (every tab's) and unmount its folder, so
    deleting removes its files and image rather than a mount point in use."""
    _shutdown_folder(workdir)
    folderfs.forget(workdir)


def shutdown_all() -> None:
    """Stop every conversation's kernel and the pool (registered with atexit)."""
    global _generation
    with _lock:
        _generation += 1
        sessions, pool = list(_kernels.values()), list(_pool)
        _kernels.clear()
        _attached.clear()
        _pool.clear()
        _liveness.clear()
        _gone_since.clear()
    for session in sessions:
        session.close()
    for kernel in pool:
        _discard(kernel)
    if _filler is not None and _filler is not threading.current_thread():
        _filler.join(timeout=10)  # a kernel it is starting now is discarded when the start ends
    folderfs.unmount_all()


def python_available() -> bool:
    """False when code can't run: the sandbox is on and bubblewrap is missing."""
    return not KernelLimits.from_env().sandbox or bwrap_path() is not None


def memory_note() -> str | None:
    """Said in the UI when a kernel's memory limit is per process only (no cgroup here)."""
    if cgroup.available():
        return None
    mb = KernelLimits.from_env().memory_mb
    return (
        f"Kernel memory is limited per process ({mb} MB each): this machine offers no memory cgroup "
        "the app may use, so a kernel's processes together (and its /tmp) may use more."
    )


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


def _disconnected(now: float) -> list[str]:
    """Sessions whose browser has been gone for the grace period (their watch is dropped too)."""
    with _lock:
        watched = list(_liveness.items())
    gone = []
    for session_id, alive in watched:
        if alive():
            _gone_since.pop(session_id, None)
        elif now - _gone_since.setdefault(session_id, now) >= DISCONNECT_GRACE_S:
            gone.append(session_id)
            with _lock:
                _liveness.pop(session_id, None)
                _gone_since.pop(session_id, None)
    return gone


def _reap_forever() -> None:
    while True:
        idle_s = KernelLimits.from_env().idle_s
        time.sleep(min(1.0, max(0.2, idle_s / 4)))
        now = time.monotonic()
        with _lock:
            idle = [folder for folder, s in _kernels.items() if not s.busy and now - s.last_used > idle_s]
        for folder in idle:
            _shutdown_folder(folder)
        for session_id in _disconnected(now):
            shutdown_session(session_id)
        folderfs.unmount_idle()


def _start_reaper() -> None:
    global _reaper
    with _lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_forever, name="kernel-reaper", daemon=True)
            _reaper.start()


atexit.register(shutdown_all)
