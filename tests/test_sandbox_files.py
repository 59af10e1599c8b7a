"""The conversation folder seen from the app: the kernel controls its contents, so reads never follow
a symlink and uploads never overwrite or follow anything."""

from __future__ import annotations

import os
import threading

import pytest

from app.sandbox import KernelLimits, KernelSession, read_inside, save_upload
from app.sandbox.files import MAX_NAME_BYTES, safe_name, snapshot


@pytest.fixture
def folders(tmp_path):
    workdir, secret = tmp_path / "work", tmp_path / "app.sqlite3"
    workdir.mkdir()
    secret.write_bytes(b"the app's database")
    return workdir, secret


def test_regular_files_are_read_inside_the_folder(folders):
    workdir, _ = folders
    (workdir / "sub").mkdir()
    (workdir / "sub" / "out.txt").write_bytes(b"result")
    assert read_inside(workdir, "sub/out.txt", 100) == b"result"
    assert read_inside(workdir, "sub/out.txt", 5) is None  # over max_bytes
    assert read_inside(workdir, "missing.txt", 100) is None
    assert read_inside(workdir, "sub", 100) is None  # a directory


@pytest.mark.parametrize("name", ["../app.sqlite3", "sub/../../app.sqlite3", "/etc/passwd", "", ".", "./x"])
def test_dot_dot_and_absolute_names_are_refused(folders, name):
    workdir, secret = folders
    (workdir / "sub").mkdir()
    (workdir / "x").write_bytes(b"x")
    assert read_inside(workdir, name, 10**6) is None
    assert read_inside(workdir, str(secret), 10**6) is None


def test_symlink_swapped_in_after_the_listing_is_refused(folders):
    """The race a cell can win: the file is listed, then replaced by a link to the app's database."""
    workdir, secret = folders
    (workdir / "out.txt").write_bytes(b"harmless")
    listed = sorted(snapshot(workdir))
    assert listed == ["out.txt"]
    (workdir / "out.txt").unlink()
    (workdir / "out.txt").symlink_to(secret)
    assert read_inside(workdir, listed[0], 10**6) is None
    (workdir / "dir").symlink_to(secret.parent)  # a directory link in the middle of the path
    assert read_inside(workdir, f"dir/{secret.name}", 10**6) is None


def test_a_fifo_does_not_block_the_reader(folders):
    workdir, _ = folders
    os.mkfifo(workdir / "pipe")
    done = threading.Event()
    threading.Thread(target=lambda: (read_inside(workdir, "pipe", 100), done.set()), daemon=True).start()
    assert done.wait(5)
    assert read_inside(workdir, "pipe", 100) is None


def test_kernel_made_symlink_to_the_data_dir_is_not_read(tmp_path):
    """The real attack: a cell replaces its output by a symlink to a host path (visible in
    /proc/self/mountinfo). Inside the sandbox the link dangles; the app must not follow it."""
    secret = tmp_path / "data" / "app.sqlite3"
    secret.parent.mkdir()
    secret.write_bytes(b"secret rows")
    workdir = tmp_path / "data" / "conversation"
    with KernelSession("link", workdir, KernelLimits()) as session:
        code = f"import os\nos.symlink({str(secret)!r}, 'out.txt')\nos.path.exists('out.txt')"
        assert session.execute(code).text() == "False\n"  # dangling inside the sandbox
    assert (workdir / "out.txt").is_symlink()
    assert read_inside(workdir, "out.txt", 10**6) is None


def test_long_names_are_cut_by_bytes_keeping_the_extension(tmp_path):
    name = safe_name("报告" * 60 + ".pdf")  # 360 bytes of stem: used to raise OSError 36
    assert name.endswith(".pdf") and len(name.encode()) <= MAX_NAME_BYTES
    assert name.startswith("报告")
    path = save_upload(tmp_path, "报告" * 60 + ".pdf", b"%PDF")
    assert path.name == name and path.read_bytes() == b"%PDF"
    again = save_upload(tmp_path, "报告" * 60 + ".pdf", b"second")
    assert again.name.endswith(" (2).pdf") and len(again.name.encode()) <= MAX_NAME_BYTES


def test_taken_names_get_a_number_and_nothing_is_overwritten_or_followed(tmp_path):
    workdir, outside = tmp_path / "work", tmp_path / "outside.txt"
    workdir.mkdir()
    (workdir / "data.csv").mkdir()  # the kernel made a directory of that name
    (workdir / "notes.txt").write_text("kernel's own")
    (workdir / "link.txt").symlink_to(outside)
    assert save_upload(workdir, "data.csv", b"1").name == "data (2).csv"
    assert save_upload(workdir, "notes.txt", b"2").name == "notes (2).txt"
    assert save_upload(workdir, "link.txt", b"3").name == "link (2).txt"
    assert save_upload(workdir, "data.csv", b"4").name == "data (3).csv"
    assert (workdir / "notes.txt").read_text() == "kernel's own"
    assert not outside.exists()


def test_folders_nested_past_any_limit_do_not_break_the_walks(tmp_path):
    """A cell can nest folders thousands deep; the walks stop at tree.MAX_DEPTH instead of failing."""
    from app.sandbox import tree

    root = tmp_path / "deep"
    root.mkdir()
    (root / "top.txt").write_text("listed")
    fd = os.open(root, os.O_RDONLY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    try:
        assert snapshot(root) == {"top.txt": (6, (root / "top.txt").stat().st_mtime_ns)}
        assert tree.usage(root, 10**6)[1] < 2 * tree.MAX_DEPTH
        tree.chown_tree(root, os.getuid())
    finally:  # shutil.rmtree (pytest's clean-up) would recurse past Python's limit
        fds = [os.open(root, os.O_RDONLY)]
        while "d" in os.listdir(fds[-1]):
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
        os.close(fds.pop())
        while fds:
            os.rmdir("d", dir_fd=fds[-1])
            os.close(fds.pop())
