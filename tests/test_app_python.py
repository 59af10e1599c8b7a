"""The python tool through the page: a real sandboxed kernel, its plot, its file and the notebook."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.sandbox import notebook_bytes, shutdown_all
from app.store import Store
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN

CODE = """```python
import matplotlib.pyplot as plt
print("sum", sum(range(10)))
plt.plot([0, 1, 2], [0, 1, 4])
plt.show()
with open("squares.csv", "w") as f:
    f.write("x,y\\n2,4\\n")
```"""


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rules = [
        Rule("python\n" + CODE, when="Plot"),
        Rule("\nThe sum is 45 and the plot is above.", when="sum 45"),
    ]
    with ScriptedServer(rules) as model:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", model.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_KERNEL_POOL", "0")
        yield model, tmp_path / "data"
    shutdown_all()


def test_code_runs_and_its_plot_and_file_come_back(app_env) -> None:
    model, data = app_env
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.chat_input[0].set_value("Plot some squares").run()
    assert not at.exception
    observation = model.requests[-1]["body"]["messages"][-1]
    assert observation["role"] == "tool"
    assert "sum 45" in observation["content"]
    assert "[image: " in observation["content"] and "squares.csv" in observation["content"]

    assistant = at.chat_message[1]
    (status,) = [c for c in assistant.children.values() if type(c).__name__ == "Status"]
    assert status.code[0].language == "python" and "plt.plot" in status.code[0].value
    assert "sum 45" in status.code[1].value
    assert assistant.markdown[-1].value == "The sum is 45 and the plot is above."

    stored = Store(data).load_conversation("local", at.session_state["conversation:chat"].id)
    kinds = [(a.kind, a.name) for a in stored.messages[2].attachments]
    assert any(kind == "image" for kind, _ in kinds)
    assert ("file", "squares.csv") in kinds
    file_buttons = [b for b in at.sidebar.get("download_button") if "squares.csv" in str(b.proto.label)]
    assert file_buttons, "the produced file is offered for download"

    notebook = json.loads(notebook_bytes(at.session_state["session_id"]))
    assert "plt.plot" in "".join(notebook["cells"][0]["source"])
    assert any(o.get("data", {}).get("image/png") for o in notebook["cells"][0]["outputs"])
