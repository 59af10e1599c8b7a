"""What a crashed app leaves behind, and removing it: only what provably belongs to a dead process
(see owner.py), never the files of another live app or test suite on the same machine."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from app.sandbox import cgroup, mounts
from app.sandbox.owner import OWNER_SUFFIX, owner_alive


def _remove_tree(root: Path) -> bool:
    """Detach every mount under `root`, then delete it; never deletes through a mount."""
    for point in mounts.mounted_under(root):
        with contextlib.suppress(OSError):
            mounts.detach(point)
    if mounts.mounted_under(root):
        return False
    shutil.rmtree(root, ignore_errors=True)
    return not root.exists()


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
    for point in mounts.mounted_under(Path("/")):
        if not point.name:
            continue
        owner = point.with_name(point.name + OWNER_SUFFIX)
        try:
            tag = owner.read_text().strip()
        except OSError:
            continue
        if not owner_alive(tag):
            with contextlib.suppress(OSError):
                mounts.detach(point)
                owner.unlink()
                removed.append(point)
    removed += cgroup.sweep_dead(owner_alive)
    return removed
