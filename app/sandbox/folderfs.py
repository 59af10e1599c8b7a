"""Each conversation folder is a filesystem of its own, so its size limit holds at the moment of writing.

As root, a folder is backed by a sparse ext4 image beside it (`<folder>.fs.img`, GLM_KERNEL_DISK_MB
big, at most MAX_ENTRIES inodes) that is loop-mounted on the folder while someone uses it: a kernel
(for its whole life), or the app for an upload, a listing or a download. A write past the limit
fails with ENOSPC whoever writes it (a cell, a background process after the cell, an upload), with
no polling. Existing folders move into their image the first time (`mkfs.ext4 -d`). A folder no
one has used for LINGER_S is unmounted (lazily: a kernel that still has it keeps it).

Elsewhere (not root, or no loop mounts) `enforced()` is False and the folder is a plain directory
whose size `disk.DiskWatch` measures while cells run.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.sandbox import leftovers, mounts, tree
from app.sandbox.limits import KernelLimits
from app.sandbox.owner import mounts_record

IMAGE_SUFFIX = ".fs.img"
MAX_ENTRIES = 100_000
LINGER_S = 30.0
_MIB = 1024 * 1024
_MOUNT_OPTIONS = "loop,nosuid,nodev,noinit_itable"
_lock = threading.RLock()
_holders: dict[Path, int] = {}
_idle_since: dict[Path, float] = {}
_failed: set[Path] = set()


@dataclass(frozen=True)
class FolderSpace:
    """A folder's limit and use in bytes; `enforced` says whether writes past it fail (its own
    filesystem) or are only noticed while a cell runs."""

    used: int
    limit: int
    enforced: bool

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


def enforced() -> bool:
    """Whether folders get filesystems of their own here (root, loop mounts, mkfs.ext4)."""
    return mounts.available() and shutil.which("mkfs.ext4") is not None and shutil.which("mount") is not None


def image_of(folder: Path) -> Path:
    return folder.with_name(folder.name + IMAGE_SUFFIX)


def _create(folder: Path, image: Path, size_mb: int) -> None:
    """A sparse ext4 image holding a copy of what the folder holds now."""
    owner = os.stat(folder, follow_symlinks=False)
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size_mb * _MIB)
    finally:
        os.close(fd)
    command = ["mkfs.ext4", "-q", "-F", "-m", "0", "-N", str(min(MAX_ENTRIES, size_mb * 64))]
    command += ["-E", f"root_owner={owner.st_uid}:{owner.st_gid},lazy_itable_init=1,lazy_journal_init=1"]
    if any(os.scandir(folder)):
        command += ["-d", str(folder)]
    done = subprocess.run([*command, str(image)], capture_output=True, text=True)
    if done.returncode != 0:
        image.unlink(missing_ok=True)
        raise OSError(f"could not create the folder's filesystem: {done.stderr.strip()[-500:]}")


def _mount(folder: Path, image: Path) -> None:
    """Mount the image on the folder; what the folder held before (copied into a new image by
    `_create`) is then deleted from underneath the mount, through a descriptor opened before it."""
    under = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        done = subprocess.run(
            ["mount", "-o", _MOUNT_OPTIONS, str(image), str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise OSError(f"could not mount the folder's filesystem: {done.stderr.strip()[-500:]}")
        for entry in os.scandir(under):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.name, dir_fd=under)
            else:
                os.unlink(entry.name, dir_fd=under)
    finally:
        os.close(under)
    with contextlib.suppress(OSError):
        os.rmdir(folder / "lost+found")  # mkfs's; e2fsck makes it again when needed


def _grow(image: Path, size_mb: int) -> None:
    """A larger GLM_KERNEL_DISK_MB than when the folder was made grows its filesystem, before it is
    mounted (a smaller one leaves it as it is: ext4 can't shrink below what it holds)."""
    if image.stat().st_size >= size_mb * _MIB:
        return
    os.truncate(image, size_mb * _MIB)
    for command in (["e2fsck", "-f", "-p", str(image)], ["resize2fs", str(image)]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # e2fsck: 1 means it fixed something
            raise OSError(f"could not grow the folder's filesystem: {done.stderr.strip()[-300:]}")


def _unmount(folder: Path) -> None:
    with contextlib.suppress(OSError):
        mounts.detach(folder)


def hold(folder: Path, size_mb: int | None = None) -> bool:
    """Mount `folder`'s filesystem (creating it on first use) and count one more user of it.

    False when folders are plain directories here, or this one's filesystem can't be made or
    mounted (then there is nothing to release and its size is polled instead).
    """
    if not enforced() or folder in _failed:
        return False
    size_mb = size_mb or KernelLimits.from_env().disk_mb
    with _lock:
        known = folder in _holders or folder in _idle_since  # mounted by this process (fast path)
        if not known and not mounts.is_mount(folder):
            folder.mkdir(parents=True, exist_ok=True)
            image = image_of(folder)
            created = False
            try:
                if not image.exists():
                    _create(folder, image, size_mb)
                    created = True
                with open(image, "rb") as lock:  # another app process on the same data directory
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if not mounts.is_mount(folder):
                        if not created:
                            try:
                                _grow(image, size_mb)
                            except OSError as exc:  # mounted at its old size all the same
                                warnings.warn(f"{folder}: {exc}", RuntimeWarning, stacklevel=2)
                        _mount(folder, image)
            except OSError as exc:  # the folder stays a plain directory, its size polled
                if created:
                    image.unlink(missing_ok=True)
                _failed.add(folder)  # not tried again by this process
                warnings.warn(f"{folder}: {exc}", RuntimeWarning, stacklevel=2)
                return False
        if not known:  # this process's from now on: recorded for the sweep should it die
            image = os.stat(image_of(folder))
            with open(mounts_record(), "a") as record:
                record.write(f"{os.major(image.st_dev)}:{os.minor(image.st_dev)} {image.st_ino}\n")
        _holders[folder] = _holders.get(folder, 0) + 1
        _idle_since.pop(folder, None)
    return True


def release(folder: Path) -> None:
    with _lock:
        count = _holders.get(folder, 0) - 1
        if count > 0:
            _holders[folder] = count
            return
        _holders.pop(folder, None)
        _idle_since[folder] = time.monotonic()


@contextlib.contextmanager
def held(folder: Path) -> Iterator[None]:
    """The folder's filesystem mounted for the duration (an upload, a listing, a read)."""
    holding = hold(folder)
    try:
        yield
    finally:
        if holding:
            release(folder)


def unmount_idle(linger_s: float = LINGER_S) -> None:
    """Unmount folders no one has used for `linger_s` (the kernel reaper calls this)."""
    now = time.monotonic()
    with _lock:
        idle = [folder for folder, since in _idle_since.items() if now - since >= linger_s]
        for folder in idle:
            _idle_since.pop(folder)
            _unmount(folder)


def forget(folder: Path) -> None:
    """Unmount `folder` now, used or not (its conversation is being deleted)."""
    with _lock:
        _holders.pop(folder, None)
        _idle_since.pop(folder, None)
        if enforced():
            _unmount(folder)


def unmount_all() -> None:
    """Unmount every folder this process mounted (at exit; a kernel still running keeps its own)."""
    with _lock:
        for folder in [*_holders, *_idle_since]:
            _unmount(folder)
        _holders.clear()
        _idle_since.clear()
        if enforced():
            leftovers.detach_own_folder_mounts()


def space(folder: Path) -> FolderSpace:
    """How full `folder` is against its limit: what the upload widget states and checks."""
    limit = KernelLimits.from_env().disk_mb * _MIB
    with held(folder):
        if mounts.is_mount(folder):
            info = os.statvfs(folder)
            total = info.f_blocks * info.f_frsize
            return FolderSpace(total - info.f_bavail * info.f_frsize, total, True)
    used, _ = tree.usage(folder, MAX_ENTRIES) if folder.exists() else (0, 0)
    return FolderSpace(used, limit, False)


atexit.register(unmount_all)
