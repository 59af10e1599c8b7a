"""The All Tools sidebar tells the admin how to set up the browser: search backend, GLM_BROWSER_ALLOW."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.i18n import LANGUAGE_KEY
from tests.scripted_server import ScriptedServer
from tests.test_app_chat import MAIN


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with ScriptedServer([]) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        for name in ("GLM_SEARCH_BACKEND", "GLM_SEARXNG_URL", "GLM_BROWSER_ALLOW", "GLM_TOOLS"):
            monkeypatch.delenv(name, raising=False)
        yield monkeypatch


def _sidebar_notes(language: str = "en") -> list[str]:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state[LANGUAGE_KEY] = language
    at.run()
    assert not at.exception
    return [note.value for note in at.sidebar.info]


def test_sidebar_says_how_to_set_a_search_backend(env) -> None:
    notes = [n for n in _sidebar_notes() if "GLM_SEARCH_BACKEND" in n]
    assert len(notes) == 1
    assert notes[0].startswith("Web search is off. Set GLM_SEARCH_BACKEND to one of: searxng")
    assert "GLM_SEARXNG_URL" in notes[0] and "duckduckgo" in notes[0]


def test_the_search_note_in_chinese(env) -> None:
    (note,) = [n for n in _sidebar_notes("zh") if "GLM_SEARCH_BACKEND" in n]
    assert note.startswith("网页搜索未开启。请把 GLM_SEARCH_BACKEND 设为以下之一：searxng")
    assert "`http://127.0.0.1:8888`）" in note, "as code: an autolink would take the text after it"
    env.setenv("GLM_SEARCH_BACKEND", "brave")
    (note,) = [n for n in _sidebar_notes("zh") if "GLM_SEARCH_BACKEND" in n]
    assert note == "GLM_SEARCH_BACKEND 为 'brave'，但未设置 GLM_BRAVE_API_KEY。"


def test_sidebar_lists_ignored_allow_entries(env) -> None:
    env.setenv("GLM_SEARCH_BACKEND", "searxng")
    env.setenv("GLM_SEARXNG_URL", "http://searx:8888")
    assert not [n for n in _sidebar_notes() if "GLM_SEARCH_BACKEND" in n or "GLM_BROWSER_ALLOW" in n]
    env.setenv("GLM_BROWSER_ALLOW", "searx:8888 http://wiki.intranet 10.0.0.0/8")
    (note,) = [n for n in _sidebar_notes() if "GLM_BROWSER_ALLOW" in n]
    assert "'http://wiki.intranet' is ignored: write only host or host:port, without a scheme" in note
    assert "'10.0.0.0/8' is ignored: address ranges and paths are not supported" in note
    assert "'searx:8888'" not in note
