"""How turns end on the All Tools page (AppTest against a scripted server over real HTTP): errors are
kept with the turn, a failed Retry keeps the old answer, a turn that can't be saved stays in view."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.store import Store
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN, PLUGIN


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    monkeypatch.setenv("GLM_BACKEND", "openai")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLM_TOOLS", str(plugin))
    monkeypatch.setenv("GLM_SEARCH_BACKEND", "")

    def serve(rules: list[Rule]) -> ScriptedServer:
        server = ScriptedServer(rules).__enter__()
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        servers.append(server)
        return server

    servers: list[ScriptedServer] = []
    yield serve, tmp_path / "data"
    for server in servers:
        server.__exit__()


def open_app(cid: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    if cid:
        at.query_params["c"] = cid
    at.run()
    assert not at.exception
    return at


def ask(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception
    return at


def errors(block) -> list[str]:
    return [e.value for e in block.error]


def stored(data: Path, at: AppTest):
    return Store(data).load_conversation("local", at.session_state["conversation:chat"].id)


def test_a_model_failure_stays_with_the_turn(env) -> None:
    serve, data = env
    serve([Rule("\nFine, thanks.", when="how are you")])  # anything else: HTTP 500
    at = ask(open_app(), "Tell me a secret")
    _, assistant = at.chat_message
    (error,) = errors(assistant)
    assert "The model failed" in error and "500" in error, "visible after the page's rerun"
    turn = stored(data, at).turns[0]
    assert [(m.role, m.content) for m in turn] == [("user", "Tell me a secret"), ("assistant", "")]
    assert turn[1].info["error"] == error

    again = open_app(at.session_state["conversation:chat"].id)
    assert errors(again.chat_message[1]) == [error], "and after reopening"
    ask(again, "how are you")
    assert again.chat_message[3].markdown[0].value == "Fine, thanks."
    assert len(errors(again)) == 1, "the old error stays with its own turn only"


def test_the_step_limit_is_kept_and_shown(env, monkeypatch: pytest.MonkeyPatch) -> None:
    serve, data = env
    monkeypatch.setenv("GLM_MAX_STEPS", "1")
    serve([Rule('get_weather\n{"city": "Paris"}')])
    at = ask(open_app(), "What's the weather in Paris?")
    assistant = at.chat_message[1]
    assert errors(assistant) == ["Stopped after 1 tool calls in one turn (GLM_MAX_STEPS=1)."]
    assert [m.role for m in stored(data, at).messages] == ["user", "assistant", "observation", "assistant"]


def test_an_answer_cut_at_max_new_tokens_says_so(env) -> None:
    serve, _ = env
    serve([Rule("\n" + "word " * 40)])
    at = open_app()
    at.sidebar.number_input(key="chat-max-new").set_value(16)
    ask(at, "Talk to me")
    captions = [c.value for c in at.chat_message[1].caption]
    assert any("cut off at the max new tokens" in c for c in captions), captions


def test_a_failed_retry_keeps_the_previous_answer(env) -> None:
    serve, data = env
    serve([Rule("\nThe first answer.", when="question", times=1)])
    at = ask(open_app(), "A question")
    next(b for b in at.sidebar.button if "Retry" in b.label).click().run()
    assert not at.exception
    assert [m.markdown[0].value for m in at.chat_message] == ["A question", "The first answer."]
    (flash,) = errors(at)
    assert "The model failed" in flash and "The previous answer was kept." in flash
    assert [m.content for m in stored(data, at).messages] == ["A question", "The first answer."]
    at.run()
    assert not errors(at), "said once"


def test_a_failed_edit_keeps_the_previous_question_and_answer(env) -> None:
    serve, data = env
    serve([Rule("\nThe first answer.", when="question", times=1)])
    at = ask(open_app(), "A question")
    (editor,) = [t for t in at.text_area if t.value == "A question"]
    editor.set_value("Another question")
    at.button(key="FormSubmitter:edit-chat-Resend").click().run()
    assert not at.exception
    assert [m.markdown[0].value for m in at.chat_message] == ["A question", "The first answer."]
    assert "The previous answer was kept." in errors(at)[0]
    assert [m.content for m in stored(data, at).messages] == ["A question", "The first answer."]


def test_a_turn_that_cannot_be_saved_stays_in_view(env) -> None:
    serve, data = env
    serve([Rule("\nAnswer one.", when="one"), Rule("\nAnswer two.", when="two")])
    at = ask(open_app(), "question one")
    Store(data).delete("local", at.session_state["conversation:chat"].id)  # another tab deletes it
    ask(at, "question two")
    assert [m.markdown[0].value for m in at.chat_message] == [
        "question one",
        "Answer one.",
        "question two",
        "Answer two.",
    ]
    (error,) = errors(at)
    assert "This turn wasn't saved" in error and "deleted" in error


def test_tool_names_from_the_model_are_escaped(env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat server passes any name the model wrote (the raw GLM-4 parser only takes name characters)."""
    monkeypatch.setenv("GLM_API_MODE", "chat")
    serve, _ = env
    serve([Rule('[click](http://evil.test)\n{"a": 1}', when="go"), Rule("\nNo such tool.", when="")])
    at = ask(open_app(), "go")
    (status,) = [c for c in at.chat_message[1].children.values() if type(c).__name__ == "Status"]
    assert status.label.startswith(r":material/build: \[click\]\(http://evil\.test\)")
    assert status.icon == ":material/error:", "the error is the state's icon, drawn once"


def test_a_history_trimmed_to_fit_is_noted_under_the_answer(env, monkeypatch: pytest.MonkeyPatch) -> None:
    serve, data = env
    monkeypatch.setenv("GLM_MAX_CONTEXT", "400")
    serve([Rule("\nNoted.", when="first"), Rule("\nShort answer.", when="second")])
    at = open_app()
    at.sidebar.number_input(key="chat-max-new").set_value(64)
    for toggle in at.sidebar.toggle:
        toggle.set_value(False)
    ask(at, "first " + "lorem ipsum dolor sit amet " * 28)
    ask(at, "second " + "lorem ipsum dolor sit amet " * 18)
    captions = [c.value for c in at.chat_message[3].caption]
    assert any("To fit the context window: the oldest turn left out." in c for c in captions), captions
    assert stored(data, at).turns[1][-1].info["trimmed"]["dropped_turns"] == 1
