"""Large outputs of real sandboxed kernels are never silently lost: collection waits for the request's
`idle` (a huge print's output arrives after the shell reply), and what is cut is said, head and tail kept."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from app.sandbox import KernelLimits, KernelSession
from app.sandbox.outputs import cap_text

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    limits = KernelLimits(timeout_s=120, memory_mb=3072, max_output=2000, max_processes=48)
    with KernelSession("output", tmp_path_factory.mktemp("output") / "work", limits) as s:
        yield s


def _accounted(text: str, printed: int) -> None:
    """Every printed character is either in the text or counted in its note."""
    [dropped] = [int(n) for n in re.findall(r"\[(\d+) characters of output dropped\]", text)]
    kept = len(re.sub(r"\n\.\.\. \[\d+ characters of output dropped\] \.\.\.\n", "", text))
    assert kept + dropped == printed


def test_a_hundred_million_characters(session):
    code = "for i in range(1000):\n    print(f'{i:05d}' + 'a' * 99_994)"  # 1000 lines of 100,000
    result = session.execute(code)
    assert result.status == "ok", result.error
    text = result.text()
    assert text.startswith("00000aaa") and text.endswith("a" * 50 + "\n")
    assert "00999" in text[-session.output_budget :]
    _accounted(text, 100_000_000)
    capped = cap_text(text, 2000)
    assert capped.startswith("00000") and capped.endswith("aaa\n") and "characters of output cut" in capped


def test_one_line_of_three_hundred_million_characters(session):
    result = session.execute("print('<' + 'b' * 299_999_998 + '>', end='')")
    assert result.status == "ok", result.error
    text = result.text()
    assert text.startswith("<bbb") and text.endswith("bbb>")
    _accounted(text, 300_000_000)


def test_three_million_characters_under_cpu_load(session):
    burners = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(3)]
    try:
        for run in range(6):
            result = session.execute(f"print('start-{run}' + 'c' * 3_000_000 + 'end-{run}')")
            text = result.text()
            assert result.status == "ok", result.error
            assert text.startswith(f"start-{run}cc") and text.endswith(f"cc end-{run}\n".replace(" ", ""))
            _accounted(text, 3_000_000 + len(f"start-{run}end-{run}\n"))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
