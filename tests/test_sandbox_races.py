"""Everything the app (root) does on a conversation folder, raced against a real kernel that keeps
swapping a sub-folder for a symlink to a host folder of root-owned canary files: no walk may change
a canary, list one or read one."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from app.sandbox import KernelLimits, KernelSession, read_inside, registry
from app.sandbox.disk import usage
from app.sandbox.files import snapshot
from app.sandbox.kernel import Kernel, allocate_uid, release_uid
from app.sandbox.tree import chown_tree

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(os.geteuid() != 0, reason="the chown walks run only when the app is root"),
]
CANARIES = 300
ROUNDS = 150

_SWAPPER = """
import os, threading
for d in ('sub', 'sub/deeper'):
    os.makedirs(d, exist_ok=True)
    for i in range(40):
        open(f'{d}/inside-{i}.txt', 'w').write('kernel file')
def swap(name, target):
    while True:
        try:
            os.rename(name, name + '.real')
            os.symlink(target, name)
            os.unlink(name)
            os.rename(name + '.real', name)
        except OSError:
            pass
for name in ('sub', 'sub/deeper'):
    threading.Thread(target=swap, args=(name, TARGET), daemon=True).start()
print('swapping')
"""


@pytest.fixture
def canary(tmp_path):
    folder = tmp_path / "host-canary"
    folder.mkdir()
    for i in range(CANARIES):
        path = folder / f"canary-{i}.txt"
        path.write_text("host file")
        os.chown(path, 0, 0)
        path.chmod(0o600)
    os.chown(folder, 0, 0)
    return folder


def _unchanged(folder) -> list[str]:
    changed = []
    for path in folder.iterdir():
        info = path.lstat()
        if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) != (0, 0, 0o600):
            changed.append(path.name)
    assert len(list(folder.iterdir())) == CANARIES
    return changed


@pytest.fixture
def swapping(tmp_path, canary, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    workdir = tmp_path / "conversation"
    limits = KernelLimits(timeout_s=20, memory_mb=1024, max_processes=48)
    with KernelSession("swapper", workdir, limits) as session:
        result = session.execute(_SWAPPER.replace("TARGET", repr(str(canary))))
        assert result.text() == "swapping\n", result.text()
        yield workdir, session


def test_chown_snapshot_usage_and_reads_never_follow_the_swapped_link(swapping, canary):
    workdir, session = swapping
    listed: set[str] = set()
    for _ in range(ROUNDS):
        chown_tree(workdir, session.kernel.uid)
        listed |= set(snapshot(workdir))
        usage(workdir)
        assert read_inside(workdir, "sub/inside-1.txt", 100) in (None, b"kernel file")
        assert read_inside(workdir, "sub/canary-1.txt", 100) is None
    assert not [name for name in listed if "canary" in name]
    assert [name for name in listed if "inside-" in name], "the kernel's own files are listed"
    assert _unchanged(canary) == []


def test_starting_another_kernel_on_the_folder_never_follows(swapping, canary):
    workdir, _ = swapping
    limits = KernelLimits(timeout_s=20, memory_mb=1024, max_processes=48)
    for _ in range(2):
        uid = allocate_uid(limits)
        Kernel(workdir, limits, uid).start().kill()
        release_uid(uid)
    assert _unchanged(canary) == []


def test_adopting_the_folder_never_follows(swapping, canary, tmp_path):
    workdir, _ = swapping
    limits = KernelLimits(timeout_s=20, memory_mb=1024, max_processes=48)
    slot = tmp_path / "slot"
    pooled = Kernel(slot, limits, allocate_uid(limits)).start()
    try:
        if registry._adopt(pooled, workdir):
            listed = snapshot(workdir)
            assert not [name for name in listed if "canary" in name]
    finally:
        pooled.kill()
        release_uid(pooled.uid)
    assert _unchanged(canary) == []


def test_deleting_the_folder_never_follows(swapping, canary):
    workdir, _ = swapping
    shutil.rmtree(workdir, ignore_errors=True)
    assert _unchanged(canary) == []
    assert len(list(canary.iterdir())) == CANARIES
