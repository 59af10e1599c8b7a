"""The python tool in the real app and Chromium: a produced file downloads through Streamlit's deferred
download, a matplotlib plot shows under the answer (live and after a reload), and the kernel of a tab
that was closed is shut down without waiting for the idle timer."""

import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e import CHAT_BOX, chromium, running_app
from tests.scripted_server import Rule, ScriptedServer

pytestmark = pytest.mark.timeout(240)
CODE = "with open('result.txt', 'w') as f:\n    f.write('made by the kernel')"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"
# The plot under the answer (app/ui/images_view.py), not the one inside the collapsed python step.
IMAGE_UNDER_ANSWER = "[data-testid=stChatMessage] [data-testid=stHtml] img:not(details img)"


def _kernel_processes(tmp_path: Path) -> list[str]:
    """bwrap and the ipykernel inside both name the kernel's socket directory, made under TMPDIR."""
    found = subprocess.run(["pgrep", "-f", f"{tmp_path}/glm-kernel-"], capture_output=True, text=True)
    return found.stdout.split()


def _plot_width(page: Page) -> int:
    """The natural width of the one image under the answers, once loaded."""
    page.locator(IMAGE_UNDER_ANSWER).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
        arg=IMAGE_UNDER_ANSWER,
        timeout=30_000,
    )
    assert page.locator(IMAGE_UNDER_ANSWER).count() == 1
    return page.locator(IMAGE_UNDER_ANSWER).first.evaluate("(i) => i.naturalWidth")


def test_download_is_served_and_a_closed_tabs_kernel_is_shut_down(tmp_path: Path) -> None:
    rules = [
        Rule("python\n" + PLOT, when="^Plot"),
        Rule("\nPlotted.", when="image"),
        Rule("python\n" + CODE, when="Write"),
        Rule("\nWritten.", when="result.txt"),
    ]
    with ScriptedServer(rules) as server:
        env = {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_DATA_DIR": str(tmp_path / "data"),
            "GLM_KERNEL_POOL": "0",
            "GLM_KERNEL_IDLE_S": "1800",
            "TMPDIR": str(tmp_path),
        }
        with chromium() as browser, running_app(env, tmp_path / "app.log") as app:
            page = browser.new_page()
            page.goto(app.url)
            page.wait_for_selector(CHAT_BOX, timeout=30_000)
            page.fill(CHAT_BOX, "Write a file")
            page.press(CHAT_BOX, "Enter")
            page.get_by_text("Written.").first.wait_for(timeout=60_000)
            assert len(_kernel_processes(tmp_path)) >= 2, "bwrap and the kernel inside it run"

            page.wait_for_function("() => new URLSearchParams(location.search).has('c')", timeout=30_000)
            sidebar = page.locator("[data-testid=stSidebar] [data-testid=stDownloadButton] button")
            with page.expect_download(timeout=30_000) as download:
                sidebar.filter(has_text="result.txt").click()
            assert Path(download.value.path()).read_text() == "made by the kernel"

            page.fill(CHAT_BOX, "Plot the squares")  # matplotlib in the live kernel: the figure it shows
            page.press(CHAT_BOX, "Enter")
            page.get_by_text("Plotted.").first.wait_for(timeout=60_000)
            assert _plot_width(page) > 100
            page.reload()
            page.get_by_text("Plotted.").first.wait_for(timeout=60_000)
            assert _plot_width(page) > 100, "the plot is gone after a reload"

            page.close()
            deadline = time.monotonic() + 60
            while _kernel_processes(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _kernel_processes(tmp_path) == [], "the closed tab's kernel outlived it"
            assert app.process.poll() is None, "the app itself keeps running"
