"""What a sandboxed kernel cannot reach: the network, the app's secrets, other sessions' files."""

from __future__ import annotations

import os
import socket
import time

import pytest

from app.sandbox import (
    SandboxUnavailableError,
    get_session,
    python_available,
    read_inside,
    registry,
    sandbox_warning,
    save_upload,
    shutdown_all,
)
from app.sandbox.leftovers import sweep
from app.sandbox.mounts import mounted_under
from app.tools.builtins import load_tools
from app.tools.registry import get_tool

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "10")
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    monkeypatch.setenv("GLM_API_KEY", "sk-secret-from-the-app")
    monkeypatch.setenv("GLM_OTHER_SETTING", "app-only-value")
    yield tmp_path
    shutdown_all()


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(1.0)
    yield server
    server.close()


def _connect_code(port: int) -> str:
    return (
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
        "    print('connected')\nexcept OSError as exc:\n    print('failed', type(exc).__name__)"
    )


def test_no_network_by_default(env, listener):
    session = get_session("net-off", env / "data" / "sessions" / "a")
    result = session.execute(_connect_code(listener.getsockname()[1]))
    assert result.text().startswith("failed")
    with pytest.raises(TimeoutError):
        listener.accept()


def test_network_when_allowed(env, listener, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_NETWORK", "1")
    session = get_session("net-on", env / "data" / "sessions" / "b")
    result = session.execute(_connect_code(listener.getsockname()[1]))
    assert result.text() == "connected\n"
    listener.accept()[0].close()


def test_no_app_variables_or_secrets_in_kernel(env):
    session = get_session("secrets", env / "data" / "sessions" / "c")
    code = (
        "import os, glob\nseen = [dict(os.environ)]\nfor path in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n        seen.append(open(path, 'rb').read().decode(errors='replace'))\n"
        "    except OSError:\n        pass\nprint(sorted(os.environ))\nprint(str(seen).count('sk-secret'), "
        "str(seen).count('app-only-value'), str(seen).count('GLM_'))"
    )
    result = session.execute(code)
    assert result.status == "ok"
    assert result.text().splitlines()[-1] == "0 0 0"
    assert "HOME" in result.text()


def test_sessions_cannot_see_each_other_or_the_data_dir(env):
    data = env / "data"
    data.mkdir()
    (data / "glm-app-settings.toml").write_text("api_key = 'sk-secret-from-the-app'\n")
    first = get_session("first", data / "sessions" / "first")
    second = get_session("second", data / "sessions" / "second")
    write = first.execute(
        "open('/mnt/data/private-session-file.txt', 'w').write('mine')\nimport os\nos.listdir('.')"
    )
    assert write.text() == "['private-session-file.txt']\n"
    assert (data / "sessions" / "first" / "private-session-file.txt").read_text() == "mine"
    code = (
        "import os\nfound = []\nnames = ('private-session-file.txt', 'glm-app-settings.toml')\n"
        "for top in ['/', " + repr(str(data)) + "]:\n"
        "    for root, dirs, files in os.walk(top):\n"
        "        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/sys', '/dev')]\n"
        "        found += [os.path.join(root, f) for f in files if f in names]\n"
        "print(found, os.listdir('/mnt/data'), os.path.exists(" + repr(str(data)) + "))"
    )
    result = second.execute(code, timeout=60)
    assert result.text() == "[] [] False\n"


def test_upload_names_stay_inside_the_folder(tmp_path):
    workdir = tmp_path / "work"
    outside = tmp_path / "outside.txt"
    names = ["../../x", "/etc/passwd", "a\x00b.txt", "", "..", "sub/dir/../report.csv", "..\\..\\win.txt"]
    saved = [save_upload(workdir, name, b"data") for name in names]
    assert [p.name for p in saved] == [
        "x",
        "passwd",
        "ab.txt",
        "upload",
        "upload (2)",
        "report.csv",
        "win.txt",
    ]
    assert all(p.parent == workdir and p.read_bytes() == b"data" for p in saved)
    os.symlink(outside, workdir / "link.txt")
    assert save_upload(workdir, "link.txt", b"new").name == "link (2).txt"
    assert not outside.exists()


def test_missing_bubblewrap_refuses_and_off_warns(env, monkeypatch):
    monkeypatch.setenv("PATH", str(env))
    with pytest.raises(SandboxUnavailableError, match="GLM_KERNEL_SANDBOX=off"):
        get_session("no-bwrap", env / "w")
    assert "bubblewrap" in sandbox_warning()
    assert not python_available()
    load_tools()
    assert get_tool("python") is None, "the model isn't offered a tool that can't run"
    monkeypatch.setenv("GLM_KERNEL_SANDBOX", "off")
    assert "sandbox is off" in sandbox_warning()
    assert python_available()
    load_tools()
    assert "the working directory (relative paths)" in get_tool("python").description
    assert "/mnt/data" not in get_tool("python").description
    monkeypatch.undo()


def test_unsandboxed_mode_runs_in_the_workdir(env, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_SANDBOX", "off")
    workdir = env / "plain"
    session = get_session("plain", workdir)
    result = session.execute("import os\nprint(os.getcwd(), 'GLM_API_KEY' in os.environ)")
    assert result.text() == f"{workdir} False\n"
    assert sandbox_warning() is not None


def test_idle_sessions_are_reaped(env, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_IDLE_S", "1")
    session = get_session("idle", env / "idle")
    session.execute("1")
    kernel = session.kernel
    for _ in range(100):
        if "idle" not in registry._attached and not kernel.alive():
            break
        time.sleep(0.1)
    assert "idle" not in registry._attached
    assert not kernel.alive(), "the reaper leaves the registry first, then stops the kernel"


_APP = """
import os, signal, subprocess, sys
from pathlib import Path
from app.sandbox import get_session
session = get_session("exit", Path(sys.argv[1]))
session.execute("open('kept.txt', 'w').write('written before the crash')")
inside = subprocess.run(["pgrep", "-f", str(session.kernel.runtime_dir)], capture_output=True, text=True)
print(session.kernel.pid, session.kernel.runtime_dir, len(inside.stdout.split()), flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_no_kernel_survives_the_app(env, how):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _APP, str(env / "w"), how],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(env)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid, runtime_dir, matched = done.stdout.split()
    pid = int(pid)
    # The pattern matches the kernel's whole chain while it runs: bwrap (its bind of the socket
    # directory) and the ipykernel inside (its connection file), not only bwrap's command line.
    assert int(matched) >= 2
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    leftovers = subprocess.run(["pgrep", "-f", runtime_dir], capture_output=True, text=True).stdout
    assert leftovers == ""
    if how == "kill":  # what the dead app left is removed by the next one, files of the folder kept
        removed = sweep(tmp_root=env)
        assert Path(runtime_dir) in removed and not Path(runtime_dir).exists()
        assert mounted_under(env) == []
        assert read_inside(env / "w", "kept.txt", 100) == b"written before the crash"
