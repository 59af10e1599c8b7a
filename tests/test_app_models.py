"""First run: with no model chosen every workspace welcomes the user to the Models page, which tests a
server, saves it in the data directory (under any GLM_* variable set), and is for admins only when
sign-in is on. A hub id with the hub unreachable fails at once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from huggingface_hub import constants
from streamlit.testing.v1 import AppTest

from app.docs import isolate
from models.backends import BackendLoadError, get_text_backend
from models.hub import offline_unless_reachable
from models.saved import KEYS
from models.settings import ModelSettings
from tests.e2e import free_port
from tests.scripted_server import MODEL_NAME, Rule, ScriptedServer

PAGES = Path(__file__).resolve().parent.parent / "app" / "pages"


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A newcomer: no model variable set, an empty data directory."""
    for name in (*KEYS, "GLM_AUTH", "GLM_ADMINS", "GLM_TOOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
    monkeypatch.setenv("GLM_KERNEL_POOL", "0")
    yield tmp_path / "data"
    isolate.shutdown()


def page(name: str, **state: object) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize("name", ["chat.py", "documents.py", "vision.py"])
def test_no_model_chosen_is_a_welcome_not_an_error(fresh: Path, name: str) -> None:
    at = page(name)
    assert not at.error
    (welcome,) = [i.value for i in at.info if "Welcome to GLM Studio" in i.value]
    assert "Models page" in welcome
    assert "[Open Models](/models)" in [m.value for m in at.markdown]
    assert at.chat_input[0].proto.disabled


def test_a_server_tested_saved_and_used(fresh: Path) -> None:
    with ScriptedServer([Rule("\nHello from the server.", when="hello")]) as server:
        at = page("models.py")
        at.radio(key="models-text-source").set_value("server").run()
        at.text_input(key="models-text-base").set_value(server.base_url)
        at.button(key="models-text-test").click().run()
        assert not at.exception
        (table,) = at.dataframe
        rows = table.value.to_dict("records")
        assert rows == [{"Model": MODEL_NAME, "Context length (tokens)": 32768}]

        at.text_input(key="models-text-name").set_value(MODEL_NAME)
        at.button(key="models-text-save").click().run()
        saved = fresh / "models.json"
        assert json.loads(saved.read_text()) == {
            "GLM_BACKEND": "openai",
            "GLM_API_BASE": server.base_url,
            "GLM_API_MODE": at.selectbox(key="models-text-mode").value,
            "GLM_MODEL": MODEL_NAME,
        }
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600, "it may hold an API key"

        chat = page("chat.py")
        assert not [i for i in chat.info if "Welcome" in i.value]
        assert any(f"**{MODEL_NAME}** is ready" in m.value for m in chat.markdown), "the empty state names it"
        chat.chat_input[0].set_value("hello").run()
        assert not chat.exception
        assert "Hello from the server." in chat.chat_message[1].markdown[-1].value


def test_an_unreachable_server_is_said_in_words(fresh: Path) -> None:
    at = page("models.py")
    at.radio(key="models-text-source").set_value("server").run()
    at.text_input(key="models-text-base").set_value(f"http://127.0.0.1:{free_port()}/v1")
    at.button(key="models-text-test").click().run()
    assert not at.exception
    assert "Can't reach the server" in at.error[0].value


def test_a_variable_set_in_the_environment_wins_and_the_page_says_so(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh.mkdir(parents=True)
    (fresh / "models.json").write_text(json.dumps({"GLM_BACKEND": "openai", "GLM_MODEL": "saved-model"}))
    monkeypatch.setenv("GLM_MODEL", "from-the-environment")
    assert ModelSettings.from_env().model == "from-the-environment"
    assert ModelSettings.from_env().backend == "openai", "unset variables come from the saved file"
    at = page("models.py")
    assert any("GLM_MODEL" in i.value and "Set in the environment" in i.value for i in at.info)


def test_only_admins_see_the_page_when_sign_in_is_on(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_AUTH", "password")
    monkeypatch.setenv("GLM_ADMINS", "pw:alice")
    refused = page("models.py", user_id="pw:bob")
    assert "Only administrators" in refused.error[0].value
    assert not refused.text_input and not refused.button
    allowed = page("models.py", user_id="pw:alice")
    assert not allowed.error and allowed.button(key="models-tiny")
    chat = page("chat.py", user_id="pw:bob")
    assert any("Ask an administrator" in i.value for i in chat.info), "no link to a page bob can't open"


def test_a_hub_id_fails_at_once_when_the_hub_is_unreachable(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert offline_unless_reachable(str(fresh)) is False, "a local folder never turns offline mode on"
    settings = ModelSettings("transformers", "some-org/not-cached-glm", "", "", "", "chat", False, 0)
    with pytest.raises(BackendLoadError) as failure:
        get_text_backend(settings)
    assert constants.HF_HUB_OFFLINE is True
    assert "offline" in str(failure.value).lower()
