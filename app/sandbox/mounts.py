"""The few mount(2) calls the sandbox makes as root: a size-limited tmpfs, a shared bind "port", and
detaching. Called through libc (no shell, no path parsing); `available()` says whether they work here."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import tempfile
from pathlib import Path

MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 2


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: Path, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    result = _libc().mount(encode(source), encode(str(target)), encode(fstype), flags, encode(data))
    _check(result, f"mount {target}")


def detach(target: Path) -> None:
    """Lazily unmount `target` (what still uses it keeps it until it lets go); missing is fine."""
    result = _libc().umount2(str(target).encode(), MNT_DETACH)
    if result != 0 and ctypes.get_errno() not in (22, 2):  # EINVAL: not a mount point; ENOENT
        _check(result, f"umount {target}")


def tmpfs(target: Path, size_bytes: int, inodes: int, mode: int, uid: int) -> None:
    """A tmpfs of at most `size_bytes` and `inodes` entries at `target`, owned by `uid`."""
    options = f"size={size_bytes},nr_inodes={inodes},mode={mode:o},uid={uid},gid={uid}"
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)


def shared_port(target: Path) -> None:
    """Make the directory `target` a mount point of its own with shared propagation: a sandbox that
    binds it (bubblewrap makes every mount a slave) sees what is mounted on it later."""
    mount(str(target), target, None, MS_BIND)
    mount("none", target, None, MS_SHARED)


def bind(source: Path, target: Path) -> None:
    mount(str(source), target, None, MS_BIND)


def _unescape(field: str) -> Path:
    """A mountinfo path: spaces and the like are written as octal escapes."""
    return Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field))


def mounted_under(root: Path) -> list[Path]:
    """Mount points at or below `root`, deepest first (to detach them in order)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    prefix = str(root).rstrip("/")
    found = []
    for line in lines:
        point = str(_unescape(line.split()[4]))
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def mounts_of_devices(devices: set[str]) -> list[Path]:
    """Mount points of the devices (`major:minor`) in `devices`, deepest first."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = [_unescape(fields[4]) for fields in map(str.split, lines) if fields[2] in devices]
    return sorted(found, key=lambda point: len(point.parts), reverse=True)


def is_mount(path: Path) -> bool:
    return path in mounted_under(path)


@functools.cache
def available() -> bool:
    """Root, and mounting a tmpfs works here (not in every container)."""
    if os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="glm-mount-probe-"))
    try:
        tmpfs(probe, 1 << 20, 16, 0o700, 0)
        detach(probe)
        return True
    except OSError:
        return False
    finally:
        os.rmdir(probe)
