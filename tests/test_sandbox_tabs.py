"""Two tabs (browser sessions) on one conversation share its kernel: the second attaches instead of
taking the folder away from the first, their cells wait for each other (and say so), and the kernel
lives while either tab does."""

from __future__ import annotations

import threading
import time

import pytest

from app.sandbox import registry, shutdown_all
from app.sandbox.kernel import WAITED_NOTE

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_TIMEOUT", "30")
    monkeypatch.setenv("GLM_KERNEL_POOL", "1")
    yield tmp_path / "data" / "conversations" / "shared" / "data"
    shutdown_all()


def test_a_second_tab_attaches_to_the_conversations_kernel(folder):
    first = registry.get_session("tab-1", folder)
    first.execute("x = 41\nopen('from-tab-1.txt', 'w').write('one')")
    for _ in range(300):  # a pooled kernel is waiting: it must not be given the open conversation
        if registry._pool:
            break
        time.sleep(0.05)
    assert registry._pool
    second = registry.get_session("tab-2", folder)
    assert second is first
    assert second.execute("x + 1").text() == "42\n"
    result = first.execute("import os\nprint(sorted(os.listdir('.')))\n_ = open('again.txt', 'w').write('2')")
    assert result.status == "ok" and result.text() == "['from-tab-1.txt']\n"
    registry.shutdown_session("tab-1")
    assert first.kernel is not None and first.kernel.alive(), "tab 2 still has the conversation open"
    assert second.execute("x").text() == "41\n"
    registry.shutdown_session("tab-2")
    assert first.kernel is None


def test_cells_of_two_tabs_wait_for_each_other_and_say_so(folder):
    first = registry.get_session("tab-1", folder)
    second = registry.get_session("tab-2", folder)
    results = {}
    slow = threading.Thread(target=lambda: results.update(slow=first.execute("import time\ntime.sleep(2)")))
    slow.start()
    time.sleep(0.5)
    results["quick"] = second.execute("print('after')")
    slow.join()
    assert results["slow"].status == "ok"
    text = results["quick"].text()
    assert text.endswith("after\n")
    assert WAITED_NOTE.split("{")[0] in text
