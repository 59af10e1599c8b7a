"""The kernel's launch command: bubblewrap + prlimit around ipykernel, and an environment built from scratch.

Inside the sandbox the system and the Python environment are read-only, `/tmp` and `/dev/shm` are
private and size-capped, the conversation's folder is the only writable place (at `/mnt/data`, also
the working directory) and the kernel's IPC sockets live in a directory shared only by that kernel
and the app.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from jupyter_client.kernelspec import KernelSpec

from app.sandbox import fontcache
from app.sandbox.errors import SandboxUnavailableError
from app.sandbox.limits import KernelLimits

MOUNT_POINT = "/mnt/data"
SHM_MB = 64
# Address space a kernel reserves but doesn't use: ~650 MB bare, ~1.1 GB with numpy, pandas and
# matplotlib (thread stacks, arenas, mapped libraries) while using ~160 MB. The address-space limit
# is memory plus this, so a single huge allocation still fails with MemoryError.
ADDRESS_HEADROOM_MB = 1024
_MIB = 1024 * 1024
# Joins the cgroups whose `cgroup.procs` files come before `--`, then becomes the sandbox (everything
# it starts stays inside), with the seccomp program $0 open as SECCOMP_FD for bwrap's --seccomp.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 1; shift; done; shift; '
_LAUNCH = _JOIN + 'exec "$@"'
_LAUNCH_SECCOMP = _JOIN + 'exec "$@" 3<"$0"'
SECCOMP_FD = 3
MPL_BACKEND = "module://matplotlib_inline.backend_inline"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_ETC_FILES = (
    "/etc/fonts",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
)
_NETWORK_ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/ssl", "/etc/ca-certificates")
P = ParamSpec("P")
T = TypeVar("T")


class Launcher:
    """One long-lived thread that starts sandboxed processes.

    bubblewrap's `--die-with-parent` fires when the *thread* that started it ends, and Streamlit runs
    each script rerun on a thread of its own: kernels and document parsers are launched from here.
    """

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def run(self, start: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`start(*args, **kwargs)` on the launcher thread; its result, or its exception."""
        return self._thread.submit(start, *args, **kwargs).result()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def require_sandbox(limits: KernelLimits) -> None:
    """Refuse to go on without bubblewrap unless the sandbox was switched off on purpose."""
    if limits.sandbox and bwrap_path() is None:
        raise SandboxUnavailableError(
            "The Python sandbox needs bubblewrap (`apt-get install bubblewrap`). "
            "Install it, or set GLM_KERNEL_SANDBOX=off to run code without isolation."
        )


def kernel_env(limits: KernelLimits, home: str) -> dict[str, str]:
    """The kernel's whole environment; nothing of the app's (keys, GLM_* settings) is passed on."""
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": MPL_BACKEND,
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    # BLAS/OpenMP start a thread per core, and threads count against the process limit.
    threads = str(min(4, os.cpu_count() or 1))
    env |= {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    if not limits.network:
        env["NO_PROXY"] = "*"
    return env


def _python_dirs() -> list[str]:
    dirs = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return sorted(dirs)


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), name]
        elif path.exists():
            args += ["--ro-bind", name, name]
    return args


def _limit_argv(limits: KernelLimits) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return []
    return [
        prlimit,
        f"--as={(limits.memory_mb + ADDRESS_HEADROOM_MB) * _MIB}",
        f"--fsize={limits.file_mb * _MIB}",
        f"--nproc={limits.max_processes}",
        "--core=0",
        "--",
    ]


def _ipykernel_argv() -> list[str]:
    return [
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        "--HistoryManager.enabled=False",
    ]


def _namespaces(network: bool, uid: int | None) -> list[str]:
    if uid is None:
        args = ["--unshare-all"]
    else:
        # No user namespace: the kernel drops to its own host uid with setpriv instead, because
        # RLIMIT_NPROC is never enforced for processes that are root on the host.
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if network:
        args.append("--share-net")
    return args


def _dirs_for(paths: list[str]) -> list[str]:
    """`--dir` for every parent of the bound paths, world-traversable (bwrap would make them 0700)."""
    parents = sorted({str(p) for path in paths for p in Path(path).parents if str(p) != "/"}, key=len)
    return [arg for p in parents if p != "/tmp" for arg in ("--perms", "0755", "--dir", p)]


def _drop_privileges(uid: int | None) -> list[str]:
    if uid is None:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxUnavailableError("setpriv (util-linux) is needed to run kernels as an unprivileged user")
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]


def _bwrap_argv(
    uid: int | None,
    *,
    network: bool,
    tmp_mb: int,
    shm: bool,
    etc: tuple[str, ...],
    read_only: Sequence[str],
    binds: Sequence[tuple[str, str]],
    chdir: str,
    files: Sequence[tuple[str, str]] = (),
    env: dict[str, str],
) -> list[str]:
    """The bwrap prefix both sandboxes share, up to and including `--` and the privilege drop.

    Order matters: `--tmpfs /tmp` comes before binds that may live under /tmp. The system, the Python
    environment, `etc` (when present) and `read_only` are read-only; `binds` (source, target) writable.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailableError("bubblewrap (bwrap) is not installed")
    args = [bwrap, *_namespaces(network, uid)]
    args += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    args += ["--perms", "1777", "--size", str(tmp_mb * _MIB), "--tmpfs", "/tmp"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if shm:
        args += ["--perms", "1777", "--size", str(SHM_MB * _MIB), "--tmpfs", "/dev/shm"]
    args += _system_binds()
    python_dirs = _python_dirs()
    args += _dirs_for([*etc, *python_dirs, *read_only, *(target for _, target in binds)])
    for name in etc:
        args += ["--ro-bind-try", name, name]
    for path in [*python_dirs, *read_only]:
        args += ["--ro-bind", path, path]
    for source, target in binds:
        args += ["--bind", source, target]
    for source, target in files:  # read-only files in a folder the sandbox's user may write to
        args += ["--perms", "1777", "--dir", str(Path(target).parent), "--ro-bind", source, target]
    args += ["--chdir", chdir]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *_drop_privileges(uid)]


def _font_list() -> list[tuple[str, str]]:
    """matplotlib's font list for the kernel's /tmp/.matplotlib, once the app has built it."""
    fonts = fontcache.font_list()
    return [(str(fonts), f"{fontcache.KERNEL_DIR}/{fonts.name}")] if fonts else []


def sandbox_argv(
    limits: KernelLimits, ipc_dir: Path, folder: Path, uid: int | None = None, seccomp: bool = False
) -> list[str]:
    """The kernel's bwrap command: its IPC folder and `folder` (at /mnt/data) writable.

    `folder` is the conversation's folder, or the mount point it is (or will be) bound on (see
    kernel.py). `uid` is the host uid the kernel runs as when the app itself is root (None otherwise).
    """
    prefix = _bwrap_argv(
        uid,
        network=limits.network,
        tmp_mb=limits.tmp_mb,
        shm=True,
        etc=_ETC_FILES + (_NETWORK_ETC_FILES if limits.network else ()),
        read_only=(),
        binds=[(str(ipc_dir), str(ipc_dir)), (str(folder), MOUNT_POINT)],
        files=_font_list(),
        chdir=MOUNT_POINT,
        env=kernel_env(limits, home="/tmp"),
    )
    if seccomp:
        prefix = [prefix[0], "--seccomp", str(SECCOMP_FD), *prefix[1:]]
    return [*prefix, *_limit_argv(limits), *_ipykernel_argv()]


def kernel_spec(
    limits: KernelLimits,
    ipc_dir: Path,
    folder: Path,
    uid: int | None = None,
    cgroup_procs: Sequence[Path] = (),
    seccomp_program: Path | None = None,
) -> KernelSpec:
    """A kernel spec for one kernel; `interrupt_mode: message` because signals stop at bwrap.

    The launch command first moves itself into the cgroups of `cgroup_procs` (see cgroup.py) and
    gives bwrap the seccomp program in the file `seccomp_program` (see seccomp.py).
    """
    seccomp = limits.sandbox and seccomp_program is not None
    if limits.sandbox:
        argv = sandbox_argv(limits, ipc_dir, folder, uid, seccomp)
    else:
        argv = [*_limit_argv(limits), *_ipykernel_argv()]
    if cgroup_procs or seccomp:
        script, zero = (_LAUNCH_SECCOMP, str(seccomp_program)) if seccomp else (_LAUNCH, "sh")
        argv = ["/bin/sh", "-c", script, zero, *map(str, cgroup_procs), "--", *argv]
    return KernelSpec(
        argv=argv,
        display_name="Python 3 (GLM sandbox)",
        language="python",
        interrupt_mode="message",
    )


def isolated_argv(
    command: list[str],
    read_only: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    uid: int | None = None,
) -> list[str]:
    """bwrap around a command that needs no files of its own (a document parser fed over pipes).

    No network, a private `/tmp` as home and working directory, the system, the Python environment and
    `read_only` paths read-only, nothing else of the host (no data directory). The environment is `env`
    and nothing else. `uid` is the host uid to run as when the app itself is root (None otherwise).
    """
    prefix = _bwrap_argv(
        uid,
        network=False,
        tmp_mb=SHM_MB,
        shm=False,
        etc=_ETC_FILES,
        read_only=read_only,
        binds=(),
        chdir="/tmp",
        env={"HOME": "/tmp", "TMPDIR": "/tmp"} | (env or {}),
    )
    return [*prefix, *command]
