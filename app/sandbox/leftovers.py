"""What a crashed app leaves behind, and removing it: only what provably belongs to a dead process
(see owner.py), never the files of another live app or test suite on the same machine."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from app.sandbox import cgroup, mounts
from app.sandbox.owner import MOUNTS_PREFIX, mounts_record, owner_alive


def _remove_tree(root: Path) -> bool:
    """Detach every mount under `root`, then delete it; never deletes through a mount."""
    for point in mounts.mounted_under(root):
        with contextlib.suppress(OSError):
            mounts.detach(point)
    if mounts.mounted_under(root):
        return False
    shutil.rmtree(root, ignore_errors=True)
    return not root.exists()


def _images(record: Path) -> set[tuple[str, str]]:
    try:
        return {tuple(line.split()) for line in record.read_text().splitlines() if len(line.split()) == 2}
    except OSError:
        return set()


def _detach_images(images: set[tuple[str, str]]) -> list[Path]:
    """Unmount every mount of the folder images `images` ((device, inode) pairs), found through the
    loop devices backed by them, whatever their folders were renamed to or deleted meanwhile."""
    if not images:
        return []
    listing = subprocess.run(
        ["losetup", "-l", "-n", "-O", "MAJ:MIN,BACK-MAJ:MIN,BACK-INO"], capture_output=True, text=True
    ).stdout
    rows = [fields for fields in map(str.split, listing.splitlines()) if len(fields) == 3]
    loops = {fields[0] for fields in rows if (fields[1], fields[2]) in images}
    removed: list[Path] = []
    for point in mounts.mounts_of_devices(loops):
        with contextlib.suppress(OSError):
            mounts.detach(point)
            removed.append(point)
    return removed


def _records(tmp_root: Path, alive: bool) -> list[Path]:
    return [r for r in tmp_root.glob(f"{MOUNTS_PREFIX}*") if owner_alive(r.name) == alive]


def detach_own_folder_mounts() -> None:
    """At exit: this process's folder mounts, by identity (a test run's clean-up may have renamed
    their folders meanwhile), except images another live process has mounted too."""
    record = mounts_record()
    others = {image for r in _records(record.parent, True) if r != record for image in _images(r)}
    _detach_images(_images(record) - others)
    record.unlink(missing_ok=True)


def _detach_dead_folder_mounts(tmp_root: Path) -> list[Path]:
    """Unmount the folder images that dead processes mounted, never one a live process uses too."""
    dead = {image for r in _records(tmp_root, False) for image in _images(r)}
    live = {image for r in _records(tmp_root, True) for image in _images(r)}
    removed = _detach_images(dead - live)
    for record in _records(tmp_root, False):
        record.unlink(missing_ok=True)
    return removed


def sweep(tmp_root: Path | None = None, pool_root: Path | None = None) -> list[Path]:
    """Remove what dead apps left: their kernels' runtime folders (and the mounts in them), their
    pool folders, their cgroups, and their conversation folders' mounts. Returns what was removed."""
    removed: list[Path] = []
    tmp_root = tmp_root or Path(tempfile.gettempdir())
    candidates = [*tmp_root.glob("glm-kernel-*")]
    if pool_root is not None and pool_root.is_dir():
        candidates += pool_root.glob("slot-*")
    for path in candidates:
        if not owner_alive(path.name) and _remove_tree(path):
            removed.append(path)
    removed += _detach_dead_folder_mounts(tmp_root)
    removed += cgroup.sweep_dead(owner_alive)
    return removed
