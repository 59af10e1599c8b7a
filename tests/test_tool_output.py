"""A running cell's output, layer by layer: the kernel's collector hands each output on as it arrives,
the loop sends it (bounded) as events while the cell still runs, and a stop keeps what was printed."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from app.agent import Answer, ToolFinished, ToolOutput, ToolRunning, run_turn
from app.sandbox import shutdown_all
from app.sandbox.outputs import OutputCollector
from app.tools.base import STOPPED_TOOL, LiveOutput, ToolContext
from app.tools.python_tool import make_python_tool
from models.backends.remote import load_openai_backend
from models.messages import GenerationParams, Message
from tests.scripted_server import Rule, ScriptedServer

pytestmark = pytest.mark.timeout(180)
SLOW_COUNT = "import time\nfor i in range(8):\n    print('line', i, flush=True)\n    time.sleep(0.3)"


@pytest.fixture
def python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    yield make_python_tool()
    shutdown_all()


def run(server: ScriptedServer, tool, ctx: ToolContext, stop_at: str | None = None) -> list:
    """The turn's events, each with the time it came; with `stop_at`, Stop once an output shows it."""
    backend = load_openai_backend(server.base_url, "k", "glm", "completions")
    events = []
    for event in run_turn(backend, [tool], [Message("user", "count")], GenerationParams(), ctx, 3):
        events.append((time.monotonic(), event))
        if stop_at and isinstance(event, ToolOutput) and stop_at in event.text:
            ctx.cancel.set()
    return events


def test_output_streams_while_the_cell_runs(python, tmp_path: Path) -> None:
    rules = [Rule("python\n" + SLOW_COUNT, when="count"), Rule("\nCounted to 7.", when="line 7")]
    with ScriptedServer(rules) as server:
        events = run(server, python, ToolContext("live", tmp_path / "work"))
    outputs = [(at, e.text) for at, e in events if isinstance(e, ToolOutput)]
    finished_at, finished = next((at, e) for at, e in events if isinstance(e, ToolFinished))
    assert outputs and outputs[0][1].startswith("line 0\n") and "line 7" not in outputs[0][1]
    assert outputs[0][0] < finished_at - 1.0, "the first line came well before the cell ended"
    texts = [text for _, text in outputs]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    assert len(set(texts)) == len(texts), "an output event only when something new was printed"
    assert finished.message.content == "".join(f"line {i}\n" for i in range(8))
    clocks = [e.seconds for _, e in events if isinstance(e, ToolRunning)]
    assert clocks == sorted(clocks) and clocks[-1] - clocks[0] > 1.0, "the clock ticks"


def test_a_stop_keeps_what_the_cell_printed(python, tmp_path: Path) -> None:
    rules = [Rule("python\n" + SLOW_COUNT, when="count")]
    with ScriptedServer(rules) as server:
        events = run(server, python, ToolContext("stop", tmp_path / "work"), stop_at="line 2")
    finished = next(e for _, e in events if isinstance(e, ToolFinished))
    info = finished.message.info
    assert info["stopped"] is True and not info["is_error"]
    assert info["output"].startswith("line 0\nline 1\nline 2\n") and "line 7" not in info["output"]
    assert "KeyboardInterrupt" not in info["output"], "the stop's own traceback is not output"
    content = finished.message.content
    assert content.startswith(f"{STOPPED_TOOL} Its output until then:\nline 0\n")
    assert "the kernel's state was kept" in content, "the model is told whether its variables remain"
    answer = events[-1][1]
    assert isinstance(answer, Answer) and answer.stopped and answer.message.info["stopped"]


def test_the_collector_hands_each_output_on_as_it_comes() -> None:
    heard: list[str] = []
    collector = OutputCollector(budget=10, listener=heard.append)
    collector.add({"msg_type": "stream", "content": {"name": "stdout", "text": "\x1b[31mred\x1b[0m\n"}})
    collector.add({"msg_type": "stream", "content": {"name": "stdout", "text": "x" * 50}})
    collector.add(
        {"msg_type": "execute_result", "content": {"data": {"text/plain": "42"}, "execution_count": 1}}
    )
    error = {"ename": "ValueError", "evalue": "bad", "traceback": ["\x1b[31mValueError\x1b[0m: bad"]}
    collector.add({"msg_type": "error", "content": error})
    assert heard == ["red\n", "x" * 50, "42\n", "ValueError: bad\n"], "ANSI stripped, before any budget"


def test_live_output_keeps_head_and_tail_within_its_bound() -> None:
    live = LiveOutput(limit=100)
    assert live.read() == (0, "")
    for i in range(1000):
        live.write(f"{i:04d}\n")
    version, text = live.read()
    assert version == 1000
    head, cut, tail = text.partition("\n... [")
    assert head.startswith("0000\n0001\n") and len(head) == 50
    assert tail.endswith("0998\n0999\n")
    assert cut and "4900 characters of output cut" in text, "5000 written, 100 kept"
