"""The `python` tool end to end on real sandboxed kernels, through the warm pool."""

from __future__ import annotations

import json
import threading
import time

import pytest

from app.sandbox import read_inside, registry, save_upload, shutdown_all, watch
from app.tools.base import ToolContext
from app.tools.python_tool import STATE_KEY, make_python_tool
from models.protocols.base import strip_code_fence

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tool(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "3")
    monkeypatch.setenv("GLM_KERNEL_MAX_OUTPUT", "1000")
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    yield make_python_tool()
    shutdown_all()


def _ctx(
    tmp_path, name: str = "s1", conversation: str | None = None, state: dict | None = None
) -> ToolContext:
    """A browser session `name` with a conversation whose folder is `conversation` (default: `name`)."""
    folder = tmp_path / "data" / "conversations" / (conversation or name) / "data"
    return ToolContext(session_id=name, workdir=folder, state={} if state is None else state)


def _wait(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_tool_shape(tool):
    assert tool.name == "python" and tool.builtin
    assert tool.template_entry == {"type": "python"}
    assert tool.parameters["required"] == ["code"]
    assert tool.text_from_arguments({"code": "1"}) == "1"
    assert tool.arguments_from_text("print(1)") == {"code": "print(1)"}


def test_fence_is_stripped():
    assert strip_code_fence("```python\nprint(1)\n```") == "print(1)"
    assert strip_code_fence("  ```\nx = 1\ny = 2\n```\n") == "x = 1\ny = 2"
    assert strip_code_fence("print('```')") == "print('```')"


def test_print_expression_and_state(tool, tmp_path):
    ctx = _ctx(tmp_path)
    first = tool.run("```python\nx = 20\nprint('hello')\nx + 1\n```", ctx)
    assert first.content == "hello\n21\n"
    assert not first.is_error and first.info["status"] == "ok"
    assert tool.run("x * 2", ctx).content == "40\n"


def test_no_output_is_a_short_observation(tool, tmp_path):
    result = tool.run("y = 1", _ctx(tmp_path))
    assert result.content == "[the cell ran without output]"


def test_plot_is_attached_and_summarised_in_order(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "60")  # importing matplotlib can take seconds on a busy CPU
    code = "import matplotlib.pyplot as plt\nprint('before')\nplt.plot([3, 1, 2])\nplt.show()\n'after'"
    result = tool.run(code, _ctx(tmp_path))
    lines = result.content.splitlines()
    assert lines[0] == "before" and lines[2] == "'after'"
    assert lines[1].startswith("[image: ") and lines[1].endswith(" PNG]")
    [image] = result.attachments
    assert image.kind == "image" and image.mime == "image/png" and image.data.startswith(b"\x89PNG")


def test_traceback_is_an_error_observation(tool, tmp_path):
    result = tool.run("undefined_name", _ctx(tmp_path))
    assert result.is_error
    assert "NameError: name 'undefined_name' is not defined" in result.content
    assert "\x1b[" not in result.content


def test_new_and_changed_files_are_listed_and_attached(tool, tmp_path):
    ctx = _ctx(tmp_path)
    tool.run("open('old.txt', 'w').write('1')", ctx)
    result = tool.run(
        "open('old.txt', 'a').write('2')\nimport pandas as pd\npd.DataFrame({'a': [1]}).to_csv('t.csv')", ctx
    )
    assert "[files in /mnt/data written by this cell: /mnt/data/old.txt, /mnt/data/t.csv]" in result.content
    files = [a for a in result.attachments if a.kind == "file"]
    assert [a.name for a in files] == ["old.txt", "t.csv"]
    assert files[1].mime == "text/csv"
    assert files[1].path == "t.csv", "stored relative to the folder, never as a host path"
    assert read_inside(ctx.workdir, files[1].path, 1000).decode().startswith(",a\n0,1")


def test_output_to_the_model_is_capped(tool, tmp_path):
    result = tool.run("for i in range(100_000):\n    print(i)", _ctx(tmp_path))
    assert len(result.content) <= 1000
    assert result.content.startswith("0\n1\n") and result.content.endswith("99999\n")
    assert "characters of output cut" in result.content


def test_stop_interrupts_the_running_cell(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "60")
    ctx = _ctx(tmp_path)
    tool.run("z = 3", ctx)
    threading.Timer(1.0, ctx.cancel.set).start()
    started = time.monotonic()
    result = tool.run("import time\nwhile True:\n    time.sleep(0.01)", ctx)
    assert time.monotonic() - started < 30
    assert result.info["status"] == "interrupted"
    assert "Cell stopped by the user and was interrupted; the kernel's state was kept." in result.content
    ctx.cancel.clear()
    assert tool.run("z", ctx).content == "3\n"


def test_kernel_of_a_session_whose_browser_left_is_shut_down(tool, tmp_path, monkeypatch):
    """The liveness callback (Streamlit's runtime in the app) says the browser is gone: the kernel
    stops after the grace period, without waiting for the idle timer."""
    monkeypatch.setattr(registry, "DISCONNECT_GRACE_S", 0.5)
    connected = threading.Event()
    connected.set()
    ctx = _ctx(tmp_path, "tab")
    watch("tab", connected.is_set)
    tool.run("1", ctx)
    kernel = registry.get_session("tab", ctx.workdir).kernel
    time.sleep(1.5)
    assert kernel.alive(), "a connected session keeps its kernel"
    connected.clear()
    assert _wait(lambda: "tab" not in registry._attached and not kernel.alive())


def test_dead_kernel_is_reported_to_the_model(tool, tmp_path):
    ctx = _ctx(tmp_path)
    result = tool.run("import os\nos._exit(1)", ctx)
    assert result.is_error and "its state was lost" in result.content
    assert tool.run("print('back')", ctx).content == "back\n"


def test_warm_pool_kernel_sees_uploads_made_before_first_call(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_POOL", "1")
    registry.warm_pool()
    for _ in range(300):
        if registry._pool:
            break
        time.sleep(0.05)
    pooled = registry._pool[0]
    ctx = _ctx(tmp_path, "pooled")
    ctx.workdir.mkdir(parents=True)
    save_upload(ctx.workdir, "../in.txt", b"uploaded")
    result = tool.run(
        "import os\nprint(os.getcwd(), open('in.txt').read())\nopen('out.txt', 'w').write('x')", ctx
    )
    assert result.content.startswith("/mnt/data uploaded\n")
    assert registry.get_session("pooled", ctx.workdir).kernel is pooled
    assert (ctx.workdir / "out.txt").read_text() == "x"


def test_sessions_do_not_share_state(tool, tmp_path):
    a, b = _ctx(tmp_path, "a"), _ctx(tmp_path, "b")
    tool.run("secret = 'a-only'", a)
    result = tool.run("secret", b)
    assert result.is_error and "NameError" in result.content


def test_unavailable_sandbox_is_an_observation(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = tool.run("print(1)", _ctx(tmp_path, "nobwrap"))
    assert result.is_error and "bubblewrap" in result.content


def test_kernel_started_on_a_finished_thread_survives(tool, tmp_path):
    ctx = _ctx(tmp_path, "threaded")
    worker = threading.Thread(target=tool.run, args=("v = 5", ctx))
    worker.start()
    worker.join()
    assert tool.run("v", ctx).content == "5\n"


def test_idle_shutdown_is_told_to_the_model(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_IDLE_S", "1")
    ctx = _ctx(tmp_path, "idle")
    tool.run("x = 1\nopen('kept.txt', 'w').write('still here')", ctx)
    kernel = registry.get_session("idle", ctx.workdir).kernel
    assert _wait(lambda: not kernel.alive())
    result = tool.run("print(open('kept.txt').read())\nx", ctx)
    assert result.content.startswith(
        "[This is a new Python kernel (the previous one was shut down or restarted): variables and "
        "imports from earlier cells are gone; files in the working folder remain.]\nstill here\n"
    )
    assert "NameError: name 'x' is not defined" in result.content
    assert "This is a new Python kernel" not in tool.run("1", ctx).content


def test_reloaded_conversation_gets_a_new_kernel_note_and_its_files(tool, tmp_path):
    """A reload (a new browser session) while the old one is still attached finds the conversation's
    kernel; once the old session is gone the kernel is too, and as the conversation's stored tool
    state still names it, the model hears its variables are gone; its folder comes along."""
    first = _ctx(tmp_path, "before-reload", conversation="c1")
    tool.run("y = 2\nopen('made.txt', 'w').write('made')", first)
    stored = json.loads(json.dumps(first.state))  # as saved with the conversation
    assert stored[STATE_KEY]["kernel"]
    quick = _ctx(tmp_path, "quick-reload", conversation="c1", state=stored)
    assert tool.run("print(y)", quick).content == "2\n"
    registry.shutdown_session("before-reload")
    registry.shutdown_session("quick-reload")
    after = _ctx(tmp_path, "after-reload", conversation="c1", state=stored)
    result = tool.run("print(open('made.txt').read())", after)
    assert result.content.startswith("[This is a new Python kernel") and result.content.endswith("made\n")
    fresh = _ctx(tmp_path, "new-chat", conversation="c2")
    assert tool.run("import os\nos.listdir('.')", fresh).content == "[]\n", "a new chat starts empty"


def test_switching_conversation_replaces_the_sessions_kernel(tool, tmp_path):
    """One kernel per browser session, for the open conversation's folder."""
    a = _ctx(tmp_path, "tab", conversation="a")
    b = _ctx(tmp_path, "tab", conversation="b")
    tool.run("v = 'a'\nopen('a.txt', 'w').write('a')", a)
    kernel_a = registry.get_session("tab", a.workdir).kernel
    assert tool.run("import os\nos.listdir('.')", b).content == "[]\n"
    assert not kernel_a.alive() and len([s for s in registry._attached if s == "tab"]) == 1
    back = tool.run("import os\nprint(os.listdir('.'))\nv", a)
    assert back.content.startswith("[This is a new Python kernel")
    assert "['a.txt']" in back.content and "NameError" in back.content


def test_pool_kernel_adopts_a_reopened_folder(tool, tmp_path, monkeypatch):
    """Handing a pooled kernel over moves the folder's files into the pool folder and renames it
    into place: the kernel's bind mount follows the inode and it sees the earlier files."""
    old = _ctx(tmp_path, "old-tab", conversation="kept")
    tool.run("open('earlier.txt', 'w').write('from before')", old)
    registry.shutdown_session("old-tab")
    monkeypatch.setenv("GLM_KERNEL_POOL", "1")
    registry.warm_pool()
    assert _wait(lambda: bool(registry._pool))
    pooled = registry._pool[0]
    new = _ctx(tmp_path, "new-tab", conversation="kept", state=old.state)
    result = tool.run("print(open('earlier.txt').read())\n_ = open('later.txt', 'w').write('x')", new)
    assert registry.get_session("new-tab", new.workdir).kernel is pooled
    assert result.content.endswith(
        "from before\n\n[files in /mnt/data written by this cell: /mnt/data/later.txt]"
    )
    assert sorted(p.name for p in new.workdir.iterdir()) == ["earlier.txt", "later.txt"]


def test_unsandboxed_mode_speaks_of_the_working_directory(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_SANDBOX", "off")
    unsandboxed = make_python_tool()
    assert "/mnt/data" not in unsandboxed.description
    result = unsandboxed.run("open('plain.txt', 'w').write('x')", _ctx(tmp_path, "off"))
    assert result.content.endswith("[files in the working directory written by this cell: plain.txt]")


def test_image_outputs_are_bounded_per_cell_and_the_model_is_told(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_MAX_OUTPUT", "20000")  # room for 36 image reprs in the text
    code = (
        "from IPython.display import Image, display\n"
        "import os, zlib, struct\n"
        "def png(n):\n"
        "    return b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(n)\n"
        "display(Image(data=png(6 * 2**20), format='png'))\n"  # over the size of one image
        "for _ in range(5):\n"
        "    display(Image(data=png(4 * 2**20), format='png'))\n"  # the fifth passes the cell's total
        "for _ in range(30):\n"
        "    display(Image(data=png(100), format='png'))\n"  # past the count
        "print('done')"
    )
    result = tool.run(code, _ctx(tmp_path))
    images = [a for a in result.attachments if a.kind == "image"]
    assert len(images) == 20 and sum(len(a.data) for a in images) <= 20 * 2**20
    assert max(len(a.data) for a in images) <= 5 * 2**20
    assert "16 of 36 images dropped: a cell shows at most 20 images" in result.content
    assert "done" in result.content
