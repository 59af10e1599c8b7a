"""The python tool through the page: a real sandboxed kernel, its plot, its file, uploads, the notebook."""

import json
from pathlib import Path

import nbformat
import pytest
from streamlit.testing.v1 import AppTest

from app.sandbox import notebook_from_messages, shutdown_all
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
RULES = [
    Rule("python\n" + CODE, when="Plot"),
    Rule("\nThe sum is 45 and the plot is above.", when="sum 45"),
    Rule("python\nprint(open('/mnt/data/notes.txt').read())", when=r"Uploaded files: /mnt/data/notes\.txt"),
    Rule("\nThe file says hello.", when="hello from the upload"),
    Rule("python\nfor i in range(300_000):\n    print(i)", when="Flood"),
    Rule("\nThat was a lot of output.", when="characters of output"),
    Rule("\nNothing new.", when="Anything new"),
]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with ScriptedServer([Rule(r.reply, r.when) for r in RULES]) as model:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the tests read the chat messages sent
        monkeypatch.setenv("GLM_API_BASE", model.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_KERNEL_POOL", "0")
        monkeypatch.setenv("GLM_KERNEL_MAX_OUTPUT", "2000")
        yield model, tmp_path / "data"
    shutdown_all()


def _sidebar_downloads(at: AppTest) -> list[str]:
    return [str(b.proto.label).replace("\\", "") for b in at.sidebar.get("download_button")]  # escaped names


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
    under_answer = [type(c).__name__ for c in assistant.children.values()]
    assert under_answer[-2:] == ["Html", "DownloadButton"], "the plot (inline) and the file under the answer"
    in_step = [type(c).__name__ for c in status.children.values()]
    assert {"Image", "Html"} & set(in_step), "the step keeps its full output, plot included"

    conversation_id = at.session_state["conversation:chat"].id
    stored = Store(data).load_conversation("local", conversation_id)
    kinds = [(a.kind, a.name, a.path) for a in stored.messages[2].attachments]
    assert any(kind == "image" for kind, _, _ in kinds)
    assert ("file", "squares.csv", "squares.csv") in kinds, "a path relative to the conversation's folder"
    assert (Store(data).conversation_workdir("local", conversation_id) / "squares.csv").is_file()
    assert "squares.csv" in _sidebar_downloads(at), "the produced file is offered for download"
    assert "Notebook (.ipynb)" in _sidebar_downloads(at)

    notebook = nbformat.reads(notebook_from_messages(stored.messages), as_version=4)
    assert "plt.plot" in notebook.cells[0].source
    assert any(o.get("data", {}).get("image/png") for o in notebook.cells[0].outputs)

    reopened = AppTest.from_file(MAIN, default_timeout=120)
    reopened.query_params["c"] = conversation_id
    reopened.run()
    assert not reopened.exception
    assert "squares.csv" in _sidebar_downloads(reopened), "a reopened conversation finds its files"
    fresh = AppTest.from_file(MAIN, default_timeout=120)
    fresh.run()
    assert _sidebar_downloads(fresh) == [], "a new chat has an empty folder"


def test_sidebar_upload_reaches_the_kernel_and_the_model(app_env) -> None:
    model, data = app_env
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    workdir = Store(data).conversation_workdir("local", at.session_state["conversation:chat"].id)
    (workdir / "data.csv").mkdir()  # a name the kernel made a directory
    for n in ["", *(f" ({i})" for i in range(2, 1000))]:
        (workdir / f"full{n}.txt").write_text("taken")
    uploader = at.sidebar.get("file_uploader")[0]
    uploader.set_value(
        [
            ("../../notes.txt", b"hello from the upload", "text/plain"),
            ("data.csv", b"a,b\n", "text/csv"),
            ("报告" * 60 + ".pdf", b"%PDF-1.4", "application/pdf"),
            ("full.txt", b"no room", "text/plain"),
        ]
    ).run()
    assert not at.exception
    assert (workdir / "notes.txt").read_bytes() == b"hello from the upload"
    assert (workdir / "data (2).csv").read_bytes() == b"a,b\n"
    [pdf] = workdir.glob("*.pdf")
    assert pdf.read_bytes() == b"%PDF-1.4" and len(pdf.name.encode()) <= 255
    [error] = at.sidebar.error
    assert error.value.startswith("Couldn't save full.txt")
    at.run()
    assert not at.exception and not at.sidebar.error, "a failed upload is reported once"

    at.chat_input[0].set_value("What is in my file?").run()
    assert not at.exception
    asked = model.requests[0]["body"]["messages"][-1]["content"]
    assert asked.startswith(
        "What is in my file?\n\n(Uploaded files: /mnt/data/notes.txt, /mnt/data/data (2).csv"
    )
    assert "full.txt" not in asked
    observation = model.requests[-1]["body"]["messages"][-1]
    assert observation["role"] == "tool" and observation["content"] == "hello from the upload\n"
    assert at.chat_message[1].markdown[-1].value == "The file says hello."


def test_upload_note_stays_with_its_conversation(app_env) -> None:
    """A file uploaded into one conversation's folder isn't announced in the next chat, which
    doesn't have it."""
    model, data = app_env
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    first = at.session_state["conversation:chat"].id
    at.sidebar.get("file_uploader")[0].set_value(("later.txt", b"for the first chat", "text/plain")).run()
    assert (Store(data).conversation_workdir("local", first) / "later.txt").is_file()
    at.button(key="chat-new").click().run()
    assert at.session_state["conversation:chat"].id != first
    at.chat_input[0].set_value("Anything new?").run()
    assert not at.exception
    assert model.requests[-1]["body"]["messages"][-1]["content"] == "Anything new?"


def test_flood_of_output_keeps_the_page_and_the_model_bounded(app_env) -> None:
    model, _ = app_env
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.chat_input[0].set_value("Flood the output").run()
    assert not at.exception
    observation = model.requests[-1]["body"]["messages"][-1]["content"]
    assert len(observation) <= 2000 and observation.startswith("0\n1\n") and observation.endswith("299999\n")
    (status,) = [c for c in at.chat_message[1].children.values() if type(c).__name__ == "Status"]
    assert len(status.code[1].value) < 10_000
    assert at.chat_message[1].markdown[-1].value == "That was a lot of output."


def test_sandbox_off_is_shown_on_the_page(app_env, monkeypatch) -> None:
    monkeypatch.setenv("GLM_KERNEL_SANDBOX", "off")
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("sandbox is off" in w.value for w in at.sidebar.warning)
    assert "Files (working directory)" in [h.value for h in at.sidebar.subheader]
    python = json.loads(next(c.value for c in at.sidebar.code if '"name": "python"' in c.value))
    assert "/mnt/data" not in python["description"]


def test_missing_bubblewrap_takes_python_off_the_page(app_env, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("python tool is disabled" in w.value for w in at.sidebar.warning)
    assert "python" not in [t.label for t in at.sidebar.toggle]
