"""Real sandboxed kernels: outputs in order, timeouts, kills, deaths, memory and output limits."""

from __future__ import annotations

import pytest

from app.sandbox import KernelLimits, KernelSession, notebook_bytes
from app.sandbox.outputs import OutputCollector

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    limits = KernelLimits(timeout_s=3, memory_mb=1024, max_output=2000, max_processes=48)
    with KernelSession("test", tmp_path / "work", limits) as s:
        yield s


def test_print_and_bare_expression(session):
    result = session.execute("print('hello')\n6 * 7")
    assert result.status == "ok"
    assert result.text() == "hello\n42\n"
    assert [o.output_type for o in result.outputs] == ["stream", "execute_result"]


def test_prints_plot_and_result_in_order(session):
    code = (
        "import matplotlib.pyplot as plt\nprint('first')\nplt.plot([1, 2, 3])\nplt.show()\n"
        "print('second')\n'done'"
    )
    result = session.execute(code, timeout=60)
    assert result.status == "ok"
    assert [o.output_type for o in result.outputs] == ["stream", "display_data", "stream", "execute_result"]
    assert result.text().startswith("first\n[image: ")
    assert result.text().endswith("PNG]\nsecond\n'done'\n")
    assert len(result.images) == 1 and result.images[0].startswith(b"\x89PNG")


def test_traceback_is_returned_without_ansi(session):
    result = session.execute("def f():\n    return 1 / 0\nf()")
    assert result.status == "error"
    assert result.error == "ZeroDivisionError: division by zero"
    assert "\x1b[" not in result.text()
    assert "----> 3 f()" in result.text()


def test_infinite_loop_is_interrupted_and_state_kept(session):
    session.execute("x = 41")
    result = session.execute("while True:\n    pass")
    assert result.status == "timeout"
    assert result.error == "Cell timed out after 3 s and was interrupted; the kernel's state was kept."
    assert "KeyboardInterrupt" in result.text()
    assert session.execute("x + 1").text() == "42\n"


def test_loop_ignoring_sigint_is_killed_and_restarted(session):
    session.execute("x = 41")
    first_kernel = session.kernel
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result = session.execute(code)
    assert result.status == "timeout"
    assert result.error == (
        "Cell timed out after 3 s and did not stop when interrupted; "
        "the kernel was restarted and its state was lost."
    )
    assert session.kernel is not first_kernel and not first_kernel.alive()
    after = session.execute("x")
    assert after.status == "error" and after.error == "NameError: name 'x' is not defined"


def test_kernel_that_exits_is_restarted_and_state_loss_reported(session):
    session.execute("y = 1")
    result = session.execute("import os\nos._exit(1)")
    assert result.status == "died"
    assert "restarted and its state was lost" in result.error
    assert session.execute("y").error == "NameError: name 'y' is not defined"
    assert session.execute("print('alive')").text() == "alive\n"


def test_segfault_is_restarted(session):
    result = session.execute("import ctypes\nctypes.string_at(0)")
    assert result.status == "died"
    assert session.execute("1 + 1").text() == "2\n"


def test_allocation_past_memory_limit_is_contained(session, tmp_path):
    with KernelSession("other", tmp_path / "other", session.limits) as other:
        other.execute("kept = 'other session'")
        result = session.execute("block = bytearray(2 * 1024 ** 3)")
        assert result.status == "error"
        assert result.error.startswith("MemoryError")
        assert session.execute("small = bytearray(10 ** 6); len(small)").text() == "1000000\n"
        assert other.execute("kept").text() == "'other session'\n"


def test_process_count_is_limited(session):
    code = (
        "import subprocess\nprocs = []\ntry:\n    for _ in range(500):\n"
        "        procs.append(subprocess.Popen(['sleep', '30']))\nexcept OSError as exc:\n"
        "    print('stopped', type(exc).__name__)\nfor p in procs:\n    p.kill()\n    p.wait()\nlen(procs)"
    )
    result = session.execute(code, timeout=60)
    assert "stopped" in result.text()
    assert int(result.outputs[-1].content["data"]["text/plain"]) < 48
    assert session.execute("print('still here')").text() == "still here\n"


def test_output_flood_is_bounded(session):
    result = session.execute("for i in range(300_000):\n    print(i)", timeout=60)
    assert result.status == "ok"
    text = result.text()
    assert text.startswith("0\n1\n2\n")
    assert text.endswith("299998\n299999\n")
    assert "characters of output dropped" in text
    assert len(text) <= 1.5 * session.output_budget + 200 < 1_988_890  # 1,988,890 characters printed


def test_collector_keeps_order_past_budget():
    out = OutputCollector(budget=100)
    for i in range(50):
        out.add({"msg_type": "stream", "content": {"name": "stdout", "text": f"line {i}\n"}})
    out.add({"msg_type": "display_data", "content": {"data": {"text/plain": "shown"}}})
    out.add({"msg_type": "stream", "content": {"name": "stdout", "text": "last\n"}})
    texts = [o.text() for o in out.finish()]
    assert texts[0].startswith("line 0\n")
    assert texts[-2:] == ["shown\n", "last\n"]
    assert "characters of output dropped" in "".join(texts)


def test_notebook_has_cells_and_outputs(session):
    import nbformat

    from app.sandbox import registry

    session.execute("print('in notebook')")
    session.execute("1/0")
    registry._sessions["nb-test"] = session
    try:
        nb = nbformat.reads(notebook_bytes("nb-test").decode(), as_version=4)
    finally:
        registry._sessions.pop("nb-test")
    assert [c.source for c in nb.cells] == ["print('in notebook')", "1/0"]
    assert nb.cells[0].outputs[0].text == "in notebook\n"
    assert nb.cells[1].outputs[0].ename == "ZeroDivisionError"
    assert nbformat.reads(notebook_bytes("nobody").decode(), as_version=4).cells == []


def test_kernel_killed_between_cells_is_restarted_with_a_note(session):
    import os
    import signal
    import time

    session.execute("w = 1")
    dead = session.kernel
    os.kill(dead.pid, signal.SIGKILL)
    for _ in range(50):
        if not dead.alive():
            break
        time.sleep(0.1)
    result = session.execute("print('fresh')")
    assert result.status == "ok"
    assert result.text() == "fresh\n[The kernel had died; it was restarted and its state was lost.]\n"
