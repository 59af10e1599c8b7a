"""The .ipynb export rebuilt from a conversation's stored python calls and observations."""

from __future__ import annotations

import base64

import nbformat
import pytest

from app.sandbox import notebook_from_messages, shutdown_all
from app.tools.base import ToolContext
from app.tools.python_tool import make_python_tool
from models.messages import Attachment, Message

pytestmark = pytest.mark.timeout(120)

CELLS = [
    "```python\nprint('in notebook')\n6 * 7\n```",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('after plot')",
    "def f():\n    return 1 / 0\nf()",
    "from IPython.display import SVG\nSVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>')",
]


@pytest.fixture
def conversation(tmp_path, monkeypatch):
    """A conversation as the agent stores it (call, observation), run on a real kernel and read back
    from JSON as after a reload; the kernel is gone by the time the notebook is built."""
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    tool, ctx = make_python_tool(), ToolContext("nb", tmp_path / "work")
    messages = [Message("user", "Run some cells")]
    for i, code in enumerate(CELLS):
        result = tool.run(code, ctx)
        call = Message("assistant", code, metadata="python", tool_call_id=f"call-{i}")
        observation = Message(
            "observation",
            result.content,
            tool_call_id=f"call-{i}",
            attachments=result.attachments,
            info={**result.info, "is_error": result.is_error},
        )
        messages += [call, observation, Message("assistant", "Done.")]
    shutdown_all()
    return [Message.from_dict(m.to_dict()) for m in messages]


def test_notebook_is_valid_and_has_every_cell_with_its_outputs(conversation):
    nb = nbformat.reads(notebook_from_messages(conversation), as_version=4)
    nbformat.validate(nb)
    assert [c.source for c in nb.cells] == [
        "print('in notebook')\n6 * 7",
        CELLS[1],
        CELLS[2],
        CELLS[3],
    ]
    first, plot, error, svg = nb.cells
    assert [o.output_type for o in first.outputs] == ["stream", "execute_result"]
    assert first.outputs[0].text == "in notebook\n" and first.outputs[1].data["text/plain"] == "42"
    assert first.execution_count == 1 and plot.execution_count == 2

    assert [o.output_type for o in plot.outputs] == ["display_data", "stream"]
    png = base64.b64decode(plot.outputs[0].data["image/png"])
    assert png.startswith(b"\x89PNG")
    assert plot.outputs[1].text == "after plot\n"

    [traceback] = error.outputs
    assert traceback.output_type == "error" and traceback.ename == "ZeroDivisionError"
    assert traceback.evalue == "division by zero"
    assert any("1 / 0" in line for line in traceback.traceback)
    assert not any("\x1b[" in line for line in traceback.traceback)

    assert svg.outputs[0].data["image/svg+xml"].startswith("<svg")


def test_observations_without_a_record_still_export(conversation):
    """Conversations stored before outputs were recorded: their text and images."""
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    messages = [
        Message("assistant", "print('old')", metadata="python"),
        Message("observation", "old\n", attachments=[Attachment("image", "output-1.png", "image/png", png)]),
        Message("assistant", "1 + 1", metadata="python"),  # a call whose observation was never stored
    ]
    nb = nbformat.reads(notebook_from_messages(messages), as_version=4)
    nbformat.validate(nb)
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream", "display_data"]
    assert nb.cells[0].outputs[0].text == "old\n"
    assert base64.b64decode(nb.cells[0].outputs[1].data["image/png"]) == png
    assert nb.cells[1].source == "1 + 1" and nb.cells[1].outputs == []


def test_other_tools_and_empty_conversations():
    messages = [
        Message("user", "weather?"),
        Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
        Message("observation", "21 degrees"),
    ]
    assert nbformat.reads(notebook_from_messages(messages), as_version=4).cells == []
    assert nbformat.reads(notebook_from_messages([]), as_version=4).cells == []
