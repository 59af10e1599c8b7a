"""Quotas that hold on real sandboxed kernels: a conversation folder is a filesystem of its own, so a
write past GLM_KERNEL_DISK_MB fails at once, whoever makes it (a cell, a process left running after
it, many short cells, an upload); the kernel's IPC folder is a small tmpfs, not a host /tmp folder."""

from __future__ import annotations

import errno
import time

import pytest

from app.sandbox import KernelLimits, KernelSession, folder_space, folderfs, save_upload
from app.sandbox.disk import usage

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not folderfs.enforced(), reason="folders are filesystems of their own only as root"),
]
MB = 2**20
LIMIT_MB = 64

_WRITE = """
import errno, os
written = 0
try:
    for i in range({files}):
        with open(f'{prefix}-{{i}}.bin', 'wb') as f:
            for _ in range({mb}):
                f.write(b'x' * 2**20)
                f.flush()
                written += 2**20
except OSError as exc:
    print(errno.errorcode[exc.errno], written)
else:
    print('wrote', written)
"""


def _write(prefix: str, files: int, mb: int) -> str:
    return _WRITE.format(prefix=prefix, files=files, mb=mb)


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(LIMIT_MB))
    limits = KernelLimits(timeout_s=60, memory_mb=1024, disk_mb=LIMIT_MB, max_processes=48)
    with KernelSession("quota", tmp_path / "work", limits) as s:
        yield s


def _overshoot(folder) -> int:
    """Bytes the folder holds past its limit (negative: under it)."""
    used, _ = usage(folder, 10**6)
    return used - LIMIT_MB * MB


def test_a_cell_writing_past_the_limit_gets_enospc(session, tmp_path):
    result = session.execute(_write("big", 1, 200))
    status, written = result.text().split()
    assert status == "ENOSPC" and int(written) <= LIMIT_MB * MB
    assert _overshoot(tmp_path / "work") <= 0
    assert session.execute("import os\nos.remove('big-0.bin')\nprint('freed')").text() == "freed\n"


def test_a_background_writer_after_the_cell_is_bounded(session, tmp_path):
    child = (
        "import time\nwhile True:\n    try:\n"
        "        open('bg-%d.bin' % time.monotonic_ns(), 'wb').write(b'y' * 2**20)\n"
        "    except OSError:\n        time.sleep(0.01)"
    )
    code = f"import subprocess, sys\nwriter = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
    code += "print('started')"
    assert session.execute(code).text() == "started\n"
    time.sleep(4)  # the cell is over; the writer goes on
    assert _overshoot(tmp_path / "work") <= 0
    assert session.execute("writer.kill()\nwriter.wait()\nprint('stopped')").text() == "stopped\n"


def test_many_short_cells_cannot_add_up_past_the_limit(session, tmp_path):
    outcomes = [session.execute(_write(f"short{n}", 1, 20)).text().split()[0] for n in range(6)]
    assert "ENOSPC" in outcomes
    assert _overshoot(tmp_path / "work") <= 0


def test_the_ipc_folder_is_a_small_tmpfs(session):
    code = (
        "import os, sys, errno\nipc = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\nwritten = 0\n"
        "try:\n    with open(os.path.join(ipc, 'fill'), 'wb') as f:\n        for _ in range(2000):\n"
        "            f.write(b'z' * 2**20)\n            f.flush()\n            written += 2**20\n"
        "except OSError as exc:\n    print(errno.errorcode[exc.errno], written)"
    )
    status, written = session.execute(code).text().split()
    assert status == "ENOSPC" and int(written) <= 4 * MB
    assert session.execute("print('alive')").text() == "alive\n"


def test_an_upload_past_the_limit_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(LIMIT_MB))
    folder = tmp_path / "conversation"
    space = folder_space(folder)
    assert space.enforced and LIMIT_MB * MB * 0.9 < space.limit <= LIMIT_MB * MB
    save_upload(folder, "small.txt", b"fits")
    with pytest.raises(OSError) as refused:
        save_upload(folder, "huge.bin", b"u" * (100 * MB))
    assert refused.value.errno == errno.ENOSPC
    with folderfs.held(folder):
        assert sorted(p.name for p in folder.iterdir()) == ["small.txt"]
    assert folder_space(folder).used < 2 * MB


def test_an_existing_folder_moves_into_its_filesystem(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(LIMIT_MB))
    folder = tmp_path / "old-conversation"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "kept.txt").write_text("from before")
    limits = KernelLimits(timeout_s=30, memory_mb=1024, disk_mb=LIMIT_MB, max_processes=48)
    with KernelSession("migrate", folder, limits) as session:
        assert session.execute("print(open('sub/kept.txt').read())").text() == "from before\n"
        assert folder_space(folder).enforced


def test_deleting_a_conversation_with_a_running_kernel_removes_its_files(tmp_path, monkeypatch):
    from app.sandbox import get_session, release_folder, shutdown_all
    from app.sandbox.mounts import mounted_under
    from app.store import Store

    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(LIMIT_MB))
    store = Store(tmp_path / "data")
    conversation = store.create_conversation("local", "chat")
    folder = store.conversation_workdir("local", conversation)
    try:
        session = get_session("deleting-tab", folder)
        assert session.execute("_ = open('made.txt', 'w').write('x' * 1000)").status == "ok"
        release_folder(folder)
        assert session.kernel is None
        store.delete("local", conversation)
        assert not folder.exists() and not folderfs.image_of(folder).exists()
        assert mounted_under(tmp_path) == []
    finally:
        shutdown_all()


def test_a_folder_whose_filesystem_cannot_be_mounted_stays_a_plain_polled_directory(tmp_path, monkeypatch):
    def refuse(folder, image):
        raise OSError("no loop device here")

    monkeypatch.setattr(folderfs, "_mount", refuse)
    folder = tmp_path / "plain"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "kept.txt").write_text("still here")
    limits = KernelLimits(timeout_s=30, memory_mb=1024, disk_mb=LIMIT_MB, max_processes=48)
    with pytest.warns(RuntimeWarning, match="no loop device here"):
        session = KernelSession("plain", folder, limits).__enter__()
    try:
        assert not session.kernel.folder_enforced
        assert session.execute("print(open('sub/kept.txt').read())").text() == "still here\n"
        assert not folderfs.image_of(folder).exists() and not folder_space(folder).enforced
    finally:
        session.close()


def test_a_larger_limit_grows_an_existing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(LIMIT_MB))
    folder = tmp_path / "growing"
    save_upload(folder, "first.txt", b"kept")
    before = folder_space(folder).limit
    folderfs.unmount_all()  # as if the app were restarted with a larger GLM_KERNEL_DISK_MB
    monkeypatch.setenv("GLM_KERNEL_DISK_MB", str(2 * LIMIT_MB))
    after = folder_space(folder)
    assert after.enforced and after.limit > 1.9 * before
    with folderfs.held(folder):
        assert (folder / "first.txt").read_bytes() == b"kept"


_MOUNT_AND_DIE = """
import os, signal, sys
from pathlib import Path
from app.sandbox import save_upload
save_upload(Path(sys.argv[1]), "a.txt", b"x")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_mounts_of_a_killed_app_are_found_even_after_their_folders_moved(tmp_path):
    """A test run's clean-up renames and empties the folders of a killed process: its mounts are
    still found (by their image's device and inode, recorded outside the folders) and unmounted."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from app.sandbox.leftovers import sweep
    from app.sandbox.mounts import mounted_under

    root = Path(__file__).resolve().parents[1]
    temp, data = tmp_path / "temp", tmp_path / "data"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(temp), "GLM_KERNEL_DISK_MB": str(LIMIT_MB)}
    subprocess.run([sys.executable, "-c", _MOUNT_AND_DIE, str(data / "c1" / "data")], env=env, cwd=root)
    assert len(mounted_under(data)) == 1
    moved = tmp_path / "garbage"
    data.rename(moved)
    shutil.rmtree(moved, ignore_errors=True)  # the image goes; the mount point can't
    assert len(mounted_under(moved)) == 1
    sweep(tmp_root=temp)
    assert mounted_under(moved) == []
    assert list(temp.iterdir()) == []


_MOUNT_MOVE_EXIT = """
import sys
from pathlib import Path
from app.sandbox import save_upload
save_upload(Path(sys.argv[1]) / "c1" / "data", "a.txt", b"x")
Path(sys.argv[1]).rename(sys.argv[2])  # another test session's clean-up, while this one runs
"""


def test_an_app_leaving_unmounts_its_folders_even_after_they_moved(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from app.sandbox.mounts import mounted_under

    root = Path(__file__).resolve().parents[1]
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(temp), "GLM_KERNEL_DISK_MB": str(LIMIT_MB)}
    command = [sys.executable, "-c", _MOUNT_MOVE_EXIT, str(tmp_path / "data"), str(tmp_path / "garbage")]
    assert subprocess.run(command, env=env, cwd=root).returncode == 0
    assert mounted_under(tmp_path) == []
    assert list(temp.iterdir()) == []
