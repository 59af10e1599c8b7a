"""The `python` tool end to end on real sandboxed kernels, through the warm pool."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.sandbox import registry, save_upload, shutdown_all
from app.tools.base import ToolContext
from app.tools.python_tool import make_python_tool
from models.parser import strip_code_fence

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tool(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "3")
    monkeypatch.setenv("GLM_KERNEL_MAX_OUTPUT", "1000")
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    yield make_python_tool()
    shutdown_all()


def _ctx(tmp_path, name: str = "s1") -> ToolContext:
    return ToolContext(session_id=name, workdir=tmp_path / "data" / "sessions" / name)


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


def test_plot_is_attached_and_summarised_in_order(tool, tmp_path):
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
    assert Path(files[1].path).read_text().startswith(",a\n0,1")


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


def test_registry_interrupt(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "60")
    ctx = _ctx(tmp_path, "stop-me")
    tool.run("1", ctx)
    threading.Timer(1.0, registry.interrupt, args=("stop-me",)).start()
    result = tool.run("while True:\n    pass", ctx)
    assert result.info["status"] == "interrupted"
    assert registry.interrupt("nobody") is False


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
