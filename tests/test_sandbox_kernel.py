"""Real sandboxed kernels: outputs in order, timeouts, kills, deaths, memory and output limits."""

from __future__ import annotations

import pytest

from app.sandbox import KernelLimits, KernelSession
from app.sandbox.kernel import NEW_KERNEL_NOTE
from app.sandbox.outputs import OutputCollector, strip_ansi

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
    [(mime, png)] = result.images
    assert mime == "image/png" and png.startswith(b"\x89PNG")


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
    assert result.text() == (
        "[The kernel had died (os._exit, a crash or too much memory); it was restarted and its state "
        "was lost: variables and imports must be redefined.]\nfresh\n"
    )


def test_outputs_of_other_requests_are_filtered_out(session):
    """A request the session didn't send (another client on the same kernel) prints while our cell
    waits behind it: none of its output may end up in our cell's result."""
    code = "import time\nfor i in range(5):\n    print('foreign', i, flush=True)\n    time.sleep(0.05)"
    session.kernel.client.execute(code)
    result = session.execute("print('mine')\n'my result'")
    assert result.status == "ok"
    assert result.text() == "mine\n'my result'\n"


def test_a_cell_on_another_kernel_than_the_callers_last_one_is_told(session):
    """`since` is the kernel the caller (a conversation) last ran on; a different one is announced."""
    first = session.execute("a = 1", since="kernel-of-an-earlier-app-run")
    assert first.notes == [NEW_KERNEL_NOTE]
    assert first.text().startswith("[This is a new Python kernel")
    assert session.execute("a", since=session.kernel_id).notes == []
    assert session.execute("a").text() == "1\n"


def test_jpeg_and_svg_outputs_become_images(session):
    code = (
        "import io\nimport matplotlib.pyplot as plt\nfrom IPython.display import Image, SVG, display\n"
        "fig = plt.figure(figsize=(2, 1))\nbuf = io.BytesIO()\n"
        "fig.savefig(buf, format='jpeg')\nplt.close(fig)\n"
        "display(Image(data=buf.getvalue(), format='jpeg'))\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\'))'
    )
    result = session.execute(code, timeout=60)
    assert result.status == "ok", result.text()
    assert [mime for mime, _ in result.images] == ["image/jpeg", "image/svg+xml"]
    assert result.images[0][1].startswith(b"\xff\xd8")
    assert result.images[1][1].startswith(b"<svg")
    assert result.text() == "[image: JPEG]\n[image: SVG, offered to the user as a file]\n"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31;1mred\x1b[0m", "red"),
        ("\x1b]8;;https://example.org\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink ended by ESC \\
        ("\x1b]0;title\x07text", "text"),  # OSC ended by BEL
        ("\x1b(Bplain\x1b)0", "plain"),  # charset designations
        ("\x1bPq#0\x1b\\after", "after"),  # DCS string
        ("\x1b7saved\x1b8", "saved"),  # two-character escapes
        ("a\x1b[?25lb", "ab"),
    ],
)
def test_ansi_and_other_terminal_escapes_are_stripped(raw, clean):
    assert strip_ansi(raw) == clean
