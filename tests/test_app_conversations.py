"""The conversations sidebar (AppTest, scripted server over real HTTP): exports built on click, the
All Tools notebook, delete behind a confirmation, and more than a page of conversations."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from streamlit.testing.v1 import AppTest

from app.store import Store
from app.store.export import from_json
from app.ui.conversations_view import PAGE_SIZE
from models.messages import Message
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rules = [Rule("python\nprint(6 * 7)", when="compute"), Rule("\nIt is 42.", when="42"), Rule("\nHello.")]
    with ScriptedServer(rules) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
        yield tmp_path / "data"


def open_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def sidebar_titles(at: AppTest) -> list[str]:
    skip = ("New chat", "Retry", "Show more", "Delete")
    return [
        b.label.removeprefix(":material/chat: ").replace("\\", "")  # titles are shown escaped
        for b in at.sidebar.button
        if not any(s in b.label for s in skip)
    ]


def test_exports_are_built_only_when_clicked_and_parse_back(data: Path, deferred_downloads) -> None:
    at = open_app()
    at.chat_input[0].set_value("compute 6 * 7").run()
    assert not at.exception
    downloads = {d.label: d.proto for d in at.get("download_button")}
    for label in ["Markdown", "JSON", "Notebook (.ipynb)"]:
        assert downloads[label].deferred_file_id and not downloads[label].url, f"{label}: no data in the page"

    cid = at.session_state["conversation:chat"].id
    Store(data).rename("local", cid, "Renamed after the page ran")
    exported = from_json(deferred_downloads[f"{cid}.json"]())
    assert exported.title == "Renamed after the page ran", "built at click time, from the store"
    assert exported.messages == Store(data).load_conversation("local", cid).messages
    assert deferred_downloads[f"{cid}.md"]().startswith("# Renamed after the page ran")
    notebook = nbformat.reads(deferred_downloads[f"{cid}.ipynb"](), as_version=4)
    nbformat.validate(notebook)
    assert [c.source for c in notebook.cells if c.cell_type == "code"] == ["print(6 * 7)"]


def test_the_notebook_is_offered_only_in_all_tools(data: Path) -> None:
    at = open_app()
    at.switch_page("pages/documents.py").run()
    at.chat_input(key="documents-input").set_value("Hello?").run()
    assert not at.exception
    assert sorted(d.label for d in at.get("download_button")) == ["JSON", "Markdown"]


def test_delete_asks_first_and_removes_the_files(data: Path) -> None:
    at = open_app()
    at.chat_input[0].set_value("Say hello").run()
    state = at.session_state["conversation:chat"]
    workdir = Store(data).conversation_workdir("local", state.id)
    (workdir / "notes.txt").write_text("mine")
    assert "Delete" not in [b.label for b in at.sidebar.button], "no one-click delete"
    (confirm,) = [b for b in at.sidebar.button if "Delete" in b.label]
    assert confirm.label == "Delete for good"
    confirm.click().run()
    assert not at.exception
    assert Store(data).list_conversations("local", "chat") == []
    assert not workdir.exists()
    assert not at.chat_message


def test_more_than_a_page_of_conversations_can_be_listed_and_searched(data: Path) -> None:
    with Store(data) as db:
        for n in range(PAGE_SIZE + 5):
            cid = db.create_conversation("local", "chat")
            db.append_turn("local", cid, [Message("user", f"topic {n:02d}"), Message("assistant", "ok")])
    at = open_app()
    assert len(sidebar_titles(at)) == PAGE_SIZE
    assert sidebar_titles(at)[0] == f"topic {PAGE_SIZE + 4:02d}", "newest first"
    at.sidebar.button(key="chat-more").click().run()
    assert len(sidebar_titles(at)) == PAGE_SIZE + 5
    assert "topic 00" in sidebar_titles(at)
    at.sidebar.text_input(key="chat-search").set_value("topic 0").run()
    assert sorted(sidebar_titles(at)) == [f"topic 0{n}" for n in range(10)]
    assert not [b for b in at.sidebar.button if b.key == "chat-more"]
