"""A real sandboxed kernel under its seccomp filter (no namespaces, mounts, ptrace or keyrings) and
its CPU share (a cgroup quota of GLM_KERNEL_CPUS cores for all its processes and threads)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.sandbox import KernelLimits, KernelSession, seccomp
from app.sandbox.cgroup import _cpu_parent

pytestmark = pytest.mark.timeout(180)

_SYSCALLS = """
import ctypes, errno, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def call(*args):
    result = libc.syscall(*args)
    return 'ok' if result >= 0 else errno.errorcode[ctypes.get_errno()]
done = subprocess.run(['unshare', '-Urm', 'true'], capture_output=True, text=True)
print('unshare -Urm:', done.stderr.strip())
print('unshare(NEWUSER):', call(272, 0x10000000))
print('unshare(NEWNET):', call(272, 0x40000000))
print('mount:', call(165, b'none', b'/tmp', b'tmpfs', 0, None))
print('ptrace:', call(101, 0, 0, 0, 0))
print('keyctl:', call(250, 0, -3, 0))
print('clone3:', call(435, 0, 0))
thread = __import__('threading').Thread(target=print)
thread.start()
thread.join()
print('threads and processes:', subprocess.run(['true']).returncode)
"""


@pytest.fixture
def session(tmp_path):
    limits = KernelLimits(timeout_s=30, memory_mb=1024, max_processes=48, cpus=0.5)
    with KernelSession("confined", tmp_path / "work", limits) as s:
        yield s


@pytest.mark.skipif(seccomp.program() is None, reason="libseccomp is not installed")
def test_namespaces_mounts_ptrace_and_keyrings_are_refused(session):
    result = session.execute(_SYSCALLS)
    assert result.status == "ok", result.text()
    assert result.text().splitlines() == [
        "unshare -Urm: unshare: unshare failed: Operation not permitted",
        "unshare(NEWUSER): EPERM",
        "unshare(NEWNET): EPERM",
        "mount: EPERM",
        "ptrace: EPERM",
        "keyctl: EPERM",
        "clone3: ENOSYS",
        "",
        "threads and processes: 0",
    ]


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by `pid` and its descendants (all their threads)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        stack += [int(c) for c in children]
    return total


@pytest.mark.skipif(_cpu_parent() is None, reason="no cpu cgroup the app may use here")
def test_busy_threads_left_by_a_cell_are_held_to_the_cpu_share(tmp_path):
    """A tenth of a core (small enough to bind even on a loaded machine): three spinning threads left
    by a cell are throttled, and the kernel's processes use no more than that share."""
    limits = KernelLimits(timeout_s=30, memory_mb=1024, max_processes=48, cpus=0.1)
    code = (
        "import threading\ndef spin():\n    while True:\n        pass\n"
        "for _ in range(3):\n    threading.Thread(target=spin, daemon=True).start()\nprint('spinning')"
    )
    with KernelSession("cpu", tmp_path / "work", limits) as session:
        assert session.execute(code).text() == "spinning\n"
        group = session.kernel.cpu
        assert (group.path / "cpu.cfs_quota_us").read_text().strip() == "10000"
        before, started = _tree_cpu_s(session.kernel.pid), time.monotonic()
        throttled = group.stat()["nr_throttled"]
        time.sleep(3)
        used = _tree_cpu_s(session.kernel.pid) - before
        wall = time.monotonic() - started
        assert group.stat()["nr_throttled"] > throttled
        assert used <= 0.1 * wall * 1.5 + 0.1, f"{used:.2f} CPU s in {wall:.2f} s with a 0.1-core share"
