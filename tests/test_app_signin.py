"""Sign-in and settings gates of the real app in AppTest: password attempts slowed down, ids by mode,
sign-out, the OIDC path as far as it goes offline, and unusable settings listed instead of a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit
from streamlit import config
from streamlit.testing.v1 import AppTest

from app.auth import add_user
from app.store import Store
from app.ui.gate import attempt_limiter
from models.messages import Message
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with ScriptedServer([Rule("\nHello.")]) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
        yield tmp_path / "data"


@pytest.fixture
def password_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    users = tmp_path / "users.txt"
    monkeypatch.setenv("GLM_AUTH", "password")
    monkeypatch.setenv("GLM_AUTH_FILE", str(users))
    return users


def open_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def test_repeated_wrong_passwords_are_slowed_down(
    data: Path, password_users: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user("carol", "carol-secret-9", password_users)
    at = open_app()
    # The process-wide limiter: its waits outlast a loaded machine's runs (restored after the test).
    monkeypatch.setattr(attempt_limiter(), "first_wait_s", 600.0)
    for _ in range(5):
        assert "Wrong user name or password." in [e.value for e in sign_in(at, "carol", "guess").error]
    sign_in(at, "carol", "carol-secret-9")
    assert "Too many failed attempts" in at.error[0].value, "even the right password waits now"
    assert not at.chat_input

    other_browser = sign_in(open_app(), "carol", "carol-secret-9")
    assert "Too many failed attempts" in other_browser.error[0].value, "counted per user, not per session"


def test_a_password_user_named_local_is_not_the_local_user(data: Path, password_users: Path) -> None:
    with Store(data) as db:
        mine = db.create_conversation("local", "chat", "The no-sign-in user's chat")
        db.append_turn("local", mine, [Message("user", "private"), Message("assistant", "yes")])
    add_user("local", "local-secret-1", password_users)
    at = sign_in(open_app(), "local", "local-secret-1")
    assert at.chat_input and not [b for b in at.sidebar.button if "no-sign-in" in b.label]
    at.query_params["c"] = mine
    at.run()
    assert any("doesn't exist or isn't yours" in w.value for w in at.warning)
    assert not at.chat_message


def test_sign_out_returns_to_the_form_and_forgets_the_session(data: Path, password_users: Path) -> None:
    add_user("dave", "dave-secret-7", password_users)
    at = sign_in(open_app(), "dave", "dave-secret-7")
    at.chat_input[0].set_value("Hi").run()
    assert at.chat_message
    at.sidebar.button(key="sign-out").click().run()
    assert not at.exception
    assert not at.chat_input and not at.chat_message
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert "user_id" not in at.session_state and "conversation:chat" not in at.session_state


AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-cookie-secret-for-tests-only",
    "client_id": "glm-studio",
    "client_secret": "client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture
def oidc(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLM_AUTH", "oidc")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[auth]\n" + "".join(f'{key} = "{value}"\n' for key, value in AUTH.items()))
    saved = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(secrets)])
    streamlit.secrets._reset()
    yield data
    config.set_option("secrets.files", saved)
    streamlit.secrets._reset()


def test_oidc_sign_in_button_calls_st_login(oidc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    login = streamlit.login
    monkeypatch.setattr(streamlit, "login", lambda *args: (calls.append(args), login(*args))[1])
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and not at.chat_input
    at.button(key="sign-in-oidc").click().run()
    assert not at.exception, "st.login accepted the configuration and redirected"
    assert calls == [()]


def test_an_oidc_user_gets_a_prefixed_id_and_signs_out_with_st_logout(oidc: Path) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.user = {"is_logged_in": True, "iss": "https://idp.test", "sub": "u-1", "email": "ann@idp.test"}
    at.run()
    assert not at.exception
    assert any("ann@idp.test" in c.value for c in at.sidebar.caption)
    at.chat_input[0].set_value("Hi").run()
    assert [c.title for c in Store(oidc).list_conversations("oidc:https://idp.test#u-1", "chat")] == ["Hi"]
    at.sidebar.button(key="sign-out").click().run()
    assert not at.exception
    assert at.user["is_logged_in"] is False
    assert at.button(key="sign-in-oidc") and not at.chat_input


def test_oidc_without_its_secrets_says_what_to_configure(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_AUTH", "oidc")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert "[auth] section in .streamlit/secrets.toml" in at.error[0].value
    assert not at.button


@pytest.mark.parametrize("page", [None, "pages/documents.py", "pages/vision.py"])
def test_unusable_settings_are_listed_and_the_chat_is_disabled(
    data: Path, monkeypatch: pytest.MonkeyPatch, page: str | None
) -> None:
    monkeypatch.setenv("GLM_MAX_STEPS", "many")
    monkeypatch.setenv("GLM_API_MODE", "xml")
    at = open_app()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    problems = [e.value for e in at.error]
    assert len(problems) == 2
    assert problems[0].startswith("GLM_API_MODE='xml' is not valid") and "GLM_MAX_STEPS" in problems[1]
    assert at.chat_input(key="settings-input-off").disabled
