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
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec

from app.sandbox.errors import SandboxUnavailableError
from app.sandbox.limits import KernelLimits

MOUNT_POINT = "/mnt/data"
SHM_MB = 64
# Address space a kernel reserves but doesn't use: ~650 MB bare, ~1.1 GB with numpy, pandas and
# matplotlib (thread stacks, arenas, mapped libraries) while using ~160 MB. The address-space limit
# is memory plus this, so a single huge allocation still fails with MemoryError.
ADDRESS_HEADROOM_MB = 1024
_MIB = 1024 * 1024
# Joins the cgroup whose `cgroup.procs` is $0, then becomes the sandbox: everything it starts stays inside.
_ENTER_CGROUP = 'echo $$ > "$0" && exec "$@"'
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


def _namespaces(limits: KernelLimits, uid: int | None) -> list[str]:
    if uid is None:
        args = ["--unshare-all"]
    else:
        # No user namespace: the kernel drops to its own host uid with setpriv instead, because
        # RLIMIT_NPROC is never enforced for processes that are root on the host.
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if limits.network:
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


def sandbox_argv(limits: KernelLimits, runtime_dir: Path, workdir: Path, uid: int | None = None) -> list[str]:
    """bwrap arguments; order matters: `--tmpfs /tmp` comes before binds that may live under /tmp.

    `uid` is the host uid the kernel runs as when the app itself is root (None otherwise).
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailableError("bubblewrap (bwrap) is not installed")
    args = [bwrap, *_namespaces(limits, uid)]
    args += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    args += ["--perms", "1777", "--size", str(limits.tmp_mb * _MIB), "--tmpfs", "/tmp"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(SHM_MB * _MIB), "--tmpfs", "/dev/shm"]
    args += _system_binds()
    etc = _ETC_FILES + (_NETWORK_ETC_FILES if limits.network else ())
    python_dirs = _python_dirs()
    args += _dirs_for([*etc, *python_dirs, str(runtime_dir), MOUNT_POINT])
    for name in etc:
        args += ["--ro-bind-try", name, name]
    for path in python_dirs:
        args += ["--ro-bind", path, path]
    args += ["--bind", str(runtime_dir), str(runtime_dir)]
    args += ["--bind", str(workdir), MOUNT_POINT, "--chdir", MOUNT_POINT]
    for key, value in kernel_env(limits, home="/tmp").items():
        args += ["--setenv", key, value]
    return [*args, "--", *_drop_privileges(uid), *_limit_argv(limits), *_ipykernel_argv()]


def kernel_spec(
    limits: KernelLimits,
    runtime_dir: Path,
    workdir: Path,
    uid: int | None = None,
    cgroup_procs: Path | None = None,
) -> KernelSpec:
    """A kernel spec for one kernel; `interrupt_mode: message` because signals stop at bwrap.

    With `cgroup_procs` the launch command first moves itself into that cgroup (see cgroup.py).
    """
    if limits.sandbox:
        argv = sandbox_argv(limits, runtime_dir, workdir, uid)
    else:
        argv = [*_limit_argv(limits), *_ipykernel_argv()]
    if cgroup_procs is not None:
        argv = ["/bin/sh", "-c", _ENTER_CGROUP, str(cgroup_procs), *argv]
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
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailableError("bubblewrap (bwrap) is not installed")
    python_dirs = _python_dirs()
    args = [bwrap, *_namespaces(KernelLimits(network=False), uid)]
    args += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    args += ["--perms", "1777", "--size", str(SHM_MB * _MIB), "--tmpfs", "/tmp"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += _system_binds()
    args += _dirs_for([*_ETC_FILES, *python_dirs, *read_only])
    for name in _ETC_FILES:
        args += ["--ro-bind-try", name, name]
    for path in [*python_dirs, *read_only]:
        args += ["--ro-bind", path, path]
    args += ["--chdir", "/tmp"]
    for key, value in ({"HOME": "/tmp", "TMPDIR": "/tmp"} | (env or {})).items():
        args += ["--setenv", key, value]
    return [*args, "--", *_drop_privileges(uid), *command]
