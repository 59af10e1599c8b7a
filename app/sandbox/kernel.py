"""One sandboxed ipykernel and the session object that runs cells on it, nbclient-style.

A cell is sent on the shell channel; iopub messages whose parent is that request are collected
until the kernel reports `idle`, against a monotonic deadline, checking that the kernel is alive.
On timeout or Stop the kernel is interrupted; if it does not come back within a few seconds it is
killed and restarted, and a kernel that died is restarted: either way the result says state was lost.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

from app.sandbox import folderfs, mounts, seccomp, tree
from app.sandbox.cgroup import CpuCgroup, MemoryCgroup
from app.sandbox.disk import DiskWatch
from app.sandbox.errors import CellTimeoutError, DeadKernelError, KernelStartError
from app.sandbox.limits import KernelLimits
from app.sandbox.outputs import ExecutionResult, OutputCollector
from app.sandbox.owner import owner_tag
from app.sandbox.spec import Launcher, kernel_env, kernel_spec, require_sandbox

INTERRUPT_GRACE_S = 3.0
# How long a cell that has replied may go without any iopub message before its `idle` is given up.
IDLE_GRACE_S = 10.0
IDLE_MAX_S = 60.0  # ...and how long in all (a background thread may print on and on)
START_TIMEOUT_S = 60.0
WAITED_NOTE = (
    "Another tab on this conversation was running a cell on this kernel; this cell waited "
    "{seconds:.1f} s for it to finish."
)
IPC_BYTES = 4 * 1024 * 1024  # the kernel's sockets, connection file and stderr log
IPC_INODES = 64
NEW_KERNEL_NOTE = (
    "This is a new Python kernel (the previous one was shut down or restarted): variables and imports "
    "from earlier cells are gone; files in the working folder remain."
)
_POLL_S = 0.1
_UID_BASE = 200_000
_UID_SPAN = 50_000
_launcher = Launcher("kernel-launcher")
_uids_in_use: set[int] = set()
_uid_lock = threading.Lock()


def allocate_uid(limits: KernelLimits) -> int | None:
    """A host uid of its own for a kernel when the app runs as root (see spec.sandbox_argv)."""
    if not limits.sandbox or os.geteuid() != 0:
        return None
    with _uid_lock:
        while True:
            uid = _UID_BASE + random.randrange(_UID_SPAN)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def release_uid(uid: int | None) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


class _SandboxManager(KernelManager):
    """A KernelManager for one kernel spec, whose connection file the kernel's own uid can read."""

    def __init__(self, spec: KernelSpec, owner: int | None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._kernel_spec = spec
        self._owner = owner

    def write_connection_file(self, **kwargs: object) -> None:
        super().write_connection_file(**kwargs)
        if self._owner is not None:
            os.chown(self.connection_file, self._owner, self._owner)


class Kernel:
    """One kernel process with its folder mounted at /mnt/data (the working directory when unsandboxed).

    `id` is unique to this process start: a conversation that remembers it can tell a new kernel.
    As root (with mounts), the kernel's IPC folder is a tmpfs of IPC_BYTES and /mnt/data is bound
    from a shared mount point of its own (`port`), on which the conversation's folder (its own
    filesystem, see folderfs.py) is bound at start or, for a pooled kernel, when it is adopted.
    Elsewhere both are plain host folders. `workdir` is None for a pooled kernel not yet adopted.
    """

    def __init__(self, workdir: Path | None, limits: KernelLimits, uid: int | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.workdir = workdir
        self.limits = limits
        self.uid = uid
        self.runtime_dir: Path | None = None
        self.port: Path | None = None
        self.folder_enforced = False  # the folder is a filesystem of its own: its size needs no polling
        self.cgroup: MemoryCgroup | None = None
        self.cpu: CpuCgroup | None = None
        self._manager: _SandboxManager | None = None
        self.client = None

    def start(self) -> Kernel:
        require_sandbox(self.limits)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"glm-kernel-{owner_tag()}-"))
        ported = self.limits.sandbox and mounts.available()
        ipc = self.runtime_dir / "ipc" if ported else self.runtime_dir
        log_path = ipc / "kernel.log"  # the kernel's stderr: inside its bounded IPC folder
        try:
            if ported:
                ipc.mkdir()
                mounts.tmpfs(ipc, IPC_BYTES, IPC_INODES, 0o700, self.uid or 0)
                self.port = self.runtime_dir / "data"
                self.port.mkdir()
                mounts.shared_port(self.port)
            elif self.uid is not None:
                os.chown(self.runtime_dir, self.uid, self.uid)
            if self.workdir is not None:
                self._attach(self.workdir)
            self.cgroup = MemoryCgroup.create(self.limits.memory_mb, self.limits.cpus)
            self.cpu = CpuCgroup.create(self.limits.cpus)
            procs = [group.procs for group in (self.cgroup, self.cpu) if group is not None]
            filter_path = None
            if (bpf := seccomp.program()) is not None:
                filter_path = self.runtime_dir / "seccomp.bpf"
                filter_path.write_bytes(bpf)
            folder = self.port or self.workdir
            spec = kernel_spec(self.limits, ipc, folder, self.uid, procs, filter_path)
            home = "/tmp" if self.limits.sandbox else str(self.runtime_dir)
            self._manager = _SandboxManager(
                spec, self.uid, transport="ipc", ip=str(ipc / "k"), connection_file=str(ipc / "kernel.json")
            )
            with open(log_path, "wb") as log:
                _launcher.run(
                    self._manager.start_kernel,
                    env=kernel_env(self.limits, home),
                    cwd=str(self.workdir if not self.limits.sandbox else self.runtime_dir),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            self.client = self._manager.blocking_client()
            self.client.start_channels()
            self.client.wait_for_ready(timeout=START_TIMEOUT_S)
        except (RuntimeError, OSError) as exc:
            detail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            self.kill()
            raise KernelStartError(f"The Python kernel failed to start: {exc}\n{detail}".strip()) from exc
        return self

    def _attach(self, workdir: Path) -> None:
        """Make `workdir` this kernel's folder: its filesystem mounted, its files the kernel's user's
        (an earlier kernel of the conversation had another), bound on the port."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.folder_enforced = folderfs.hold(workdir, self.limits.disk_mb)
        self.workdir = workdir
        if self.uid is not None:
            tree.chown_tree(workdir, self.uid)
        if self.port is not None:
            mounts.bind(workdir, self.port)

    def adopt(self, workdir: Path) -> bool:
        """Give a pooled kernel (started with an empty port) the folder `workdir`; False when this
        kernel has no port (then registry moves folders instead)."""
        if self.port is None or self.workdir is not None:
            return False
        try:
            self._attach(workdir)
            self.client.execute_interactive(
                "import os as _os\n_os.chdir('/mnt/data')\ndel _os", silent=True, timeout=START_TIMEOUT_S
            )
        except (OSError, TimeoutError, RuntimeError):
            return False
        return True

    def alive(self) -> bool:
        return self._manager is not None and self._manager.is_alive()

    def interrupt(self) -> None:
        if self.alive():
            self._manager.interrupt_kernel()

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup else 0

    def kill(self) -> None:
        """Stop the kernel and everything it started at once, and remove its sockets; safe to call twice."""
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self._manager is not None:
            if self._manager.has_kernel:
                self._manager.shutdown_kernel(now=True)
            self._manager = None
        for group in (self.cgroup, self.cpu):
            if group is not None:
                group.remove()
        self.cgroup = self.cpu = None
        if self.runtime_dir is not None:
            for point in mounts.mounted_under(self.runtime_dir):
                mounts.detach(point)
            if not mounts.mounted_under(self.runtime_dir):  # never delete through a mount
                shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None
        if self.folder_enforced and self.workdir is not None:
            folderfs.release(self.workdir)
            self.folder_enforced = False

    @property
    def pid(self) -> int | None:
        provisioner = self._manager.provisioner if self._manager else None
        process = getattr(provisioner, "process", None)
        return process.pid if process else None

    def rss_bytes(self) -> int:
        """Resident memory of the kernel's whole process tree (Linux /proc)."""
        total, stack = 0, [self.pid] if self.pid else []
        while stack:
            pid = stack.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")]
            total += int(rss[0]) * 1024 if rss else 0
            stack += [int(c) for c in children]
        return total

    def send(self, code: str) -> str:
        return self.client.execute(code, store_history=True, allow_stdin=False)

    def collect(self, msg_id: str, deadline: float, out: OutputCollector, stop: Callable[[], bool]) -> bool:
        """Gather the request's iopub messages until its `idle` status (True) or until `stop()` (False).

        The shell reply often comes before the last output (a large print is still being sent), so
        only `idle` ends a cell. Raises CellTimeoutError past `deadline` (unless the cell has replied
        and its output is still arriving) and DeadKernelError when the process is gone. When the
        kernel replied but its `idle` never comes (lost messages), collection ends after
        IDLE_GRACE_S without any message (IDLE_MAX_S in all) and the outputs say they may be incomplete.
        """
        replied_at: float | None = None
        quiet_since = time.monotonic()
        client = self.client
        while True:
            if stop():
                return False
            now = time.monotonic()
            if replied_at is None and now >= deadline:
                raise CellTimeoutError(msg_id)
            if replied_at is not None and (now - quiet_since > IDLE_GRACE_S or now - replied_at > IDLE_MAX_S):
                out.note("the kernel never confirmed the end of this cell's output: some may be missing")
                return True
            try:
                msg = client.get_iopub_msg(timeout=_POLL_S)
            except zmq.ZMQError:  # channels closed by a concurrent shutdown
                raise DeadKernelError(msg_id) from None
            except queue.Empty:
                if not self.alive():
                    raise DeadKernelError(msg_id) from None
                if replied_at is None and self._replied(msg_id):
                    replied_at = quiet_since = time.monotonic()
                continue
            quiet_since = time.monotonic()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                if replied_at is None:
                    self._replied(msg_id)
                return True
            out.add(msg)

    def _replied(self, msg_id: str) -> bool:
        """Drain the shell channel; True once the reply to `msg_id` has come."""
        while True:
            try:
                reply = self.client.get_shell_msg(timeout=0)
            except queue.Empty:
                return False
            if reply["parent_header"].get("msg_id") == msg_id:
                return True


class KernelSession:
    """A conversation's kernel: runs cells one at a time (a second tab's cell waits, and is told so)
    and restarts the kernel when needed.

    Use as a context manager (or call `close`); `execute` never raises for what the code does.
    """

    def __init__(
        self, session_id: str, workdir: Path, limits: KernelLimits | None = None, kernel: Kernel | None = None
    ) -> None:
        self.session_id = session_id
        self.workdir = workdir
        self.limits = limits or KernelLimits.from_env()
        self.kernel = kernel
        self.last_used = time.monotonic()
        self._seen: str | None = None  # id of the kernel that ran the previous cell
        self._lock = threading.Lock()
        self._interrupt = threading.Event()
        self._closed = False

    def __enter__(self) -> KernelSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self.kernel is None:
            self.kernel = Kernel(self.workdir, self.limits, allocate_uid(self.limits)).start()

    @property
    def kernel_id(self) -> str | None:
        return self.kernel.id if self.kernel else None

    @property
    def output_budget(self) -> int:
        """Characters of a cell's output kept in memory (head plus half as much tail)."""
        return max(4 * self.limits.max_output, 200_000)

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def execute(
        self,
        code: str,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        since: str | None = None,
        on_output: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Run one cell. `since` is the id of the kernel the caller's previous cell ran on (default:
        this session's previous cell); when this cell runs on another one, the result says so.
        `on_output` is called from this thread with each output's text as the kernel sends it."""
        timeout = timeout or self.limits.timeout_s
        asked = time.monotonic()
        busy = self._lock.locked()
        with self._lock:
            self._interrupt.clear()
            started = time.monotonic()
            result = self._run(code, timeout, cancel, since or self._seen, on_output)
            if busy:
                result.notes.insert(0, WAITED_NOTE.format(seconds=started - asked))
            result.duration_s = time.monotonic() - started
            self.last_used = time.monotonic()
            self._seen = self.kernel_id
            return result

    def _run(
        self,
        code: str,
        timeout: float,
        cancel: threading.Event | None,
        since: str | None,
        on_output: Callable[[str], None] | None,
    ) -> ExecutionResult:
        notes: list[str] = []
        if self.kernel is None or not self.kernel.alive():
            if self.kernel is not None:
                notes.append(_death_note(self.kernel, "had died"))
            self._restart()
        elif since is not None and since != self.kernel.id:
            notes.append(NEW_KERNEL_NOTE)
        out = OutputCollector(self.output_budget, on_output)
        oom_before = self.kernel.oom_kills()
        disk = DiskWatch.starting_now(self.workdir, self.limits.disk_mb, self.kernel.folder_enforced)

        def stopped() -> bool:
            user = self._interrupt.is_set() or (cancel is not None and cancel.is_set())
            return user or disk.exceeded()

        status, error = "ok", None
        try:
            msg_id = self.kernel.send(code)
            if not self.kernel.collect(msg_id, time.monotonic() + timeout, out, stopped):
                what = f"Cell stopped because {disk.reason}" if disk.reason else "Cell stopped by the user"
                status, error = "interrupted", self._recover(msg_id, out, what)
                if disk.reason:
                    error += " Its files are kept: delete some before writing more."
            elif any(o.output_type == "error" for o in out.outputs):
                err = next(o for o in out.outputs if o.output_type == "error").content
                status, error = "error", f"{err.get('ename', 'Error')}: {err.get('evalue', '')}"
        except CellTimeoutError:
            status, error = "timeout", self._recover(msg_id, out, f"Cell timed out after {timeout:g} s")
        except DeadKernelError:
            status, error = "died", _death_note(self.kernel, "died while running this cell")
            self._restart()
        else:
            if self.kernel.oom_kills() > oom_before:
                notes.append(
                    f"A process this cell started was killed for passing the {self.limits.memory_mb} MB "
                    "memory limit (the kernel's processes share it)."
                )
        return ExecutionResult(status, out.finish(), error, out.execution_count, notes=notes)

    def _recover(self, msg_id: str, out: OutputCollector, what: str) -> str:
        """Interrupt the cell (`what` says why); kill and restart the kernel when it does not come
        back within the grace period."""
        try:
            self.kernel.interrupt()
            if self.kernel.collect(msg_id, time.monotonic() + INTERRUPT_GRACE_S, out, lambda: False):
                return f"{what} and was interrupted; the kernel's state was kept."
        except (CellTimeoutError, DeadKernelError):
            pass
        self._restart()
        return f"{what} and did not stop when interrupted; the kernel was restarted and its state was lost."

    def _restart(self) -> None:
        if self._closed:
            raise KernelStartError("This Python session was shut down.")
        uid = self.kernel.uid if self.kernel is not None else allocate_uid(self.limits)
        if self.kernel is not None:
            self.kernel.kill()
        self.kernel = None
        self.kernel = Kernel(self.workdir, self.limits, uid).start()

    def close(self) -> None:
        """Stop the kernel; waits briefly for a running cell to be interrupted first."""
        self._closed = True
        self._interrupt.set()
        acquired = self._lock.acquire(timeout=INTERRUPT_GRACE_S + 2)
        try:
            if self.kernel is not None:
                self.kernel.kill()
                release_uid(self.kernel.uid)
                self.kernel = None
        finally:
            if acquired:
                self._lock.release()


def _death_note(kernel: Kernel, what: str) -> str:
    """Why the kernel is gone (the cgroup knows when memory was the reason) and what that means."""
    cause = (
        f" after passing the {kernel.limits.memory_mb} MB memory limit"
        if kernel.oom_kills()
        else " (os._exit, a crash or too much memory)"
    )
    return (
        f"The kernel {what}{cause}; it was restarted and its state was lost: "
        "variables and imports must be redefined."
    )
