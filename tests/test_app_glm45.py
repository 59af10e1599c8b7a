"""The All Tools page on a GLM-4.6 in completions mode (AppTest): the app renders the GLM-4.5 prompt
and parses raw output with reasoning, two tool calls in one step and an answer; the thinking switch."""

from pathlib import Path

import pytest

from tests.scripted_server import Rule, ScriptedServer
from tests.test_agent_glm45 import ANSWER, TWO_CALLS
from tests.test_app_backends import ask, base_env, stored_messages
from tests.test_app_chat import PLUGIN

__all__ = ["base_env"]  # the fixture, used by name


@pytest.fixture
def glm46(base_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plugin = tmp_path / "my_tools.py"
    plugin.write_text(PLUGIN)
    rules = [
        Rule(TWO_CALLS, when="Paris and Rome"),
        Rule(ANSWER, when="Rome: 21"),
        Rule("\nHi!", when="Hello"),
    ]
    with ScriptedServer(rules) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "completions")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_MODEL", "glm-4.6")
        monkeypatch.setenv("GLM_TOOLS", str(plugin))
        yield server


def test_reasoning_two_calls_and_the_answer_on_the_page(glm46: ScriptedServer, base_env: Path) -> None:
    at = ask("Weather in Paris and Rome?")
    assert not at.error
    prompts = [r["body"]["prompt"] for r in glm46.requests]
    assert len(prompts) == 2
    assert '"name": "get_weather"' in prompts[0] and "<tools>" in prompts[0]
    assert prompts[1].count("<tool_response>") == 2 and prompts[1].count("<|observation|>") == 1
    _, assistant = at.chat_message
    statuses = [c for c in assistant.children.values() if type(c).__name__ == "Status"]
    assert [s.label.replace("\\", "").split(" ")[1] for s in statuses] == ["get_weather", "get_weather"]
    assert [[c.value for c in s.code] for s in statuses] == [
        ['{"city": "Paris"}', "Paris: 21 degrees"],
        ['{"city": "Rome"}', "Rome: 21 degrees"],
    ]
    thinking = [e for e in assistant.expander if "Thinking" in e.label]
    assert [e.markdown[0].value for e in thinking] == ["Two cities: one call each.", "Both are 21."]
    assert assistant.markdown[-1].value == "Paris and Rome are both at **21 degrees**."
    messages = stored_messages(at, base_env)
    assert [m.role for m in messages] == ["user", "assistant", "assistant", "assistant"] + [
        "observation"
    ] * 2 + ["assistant"]
    assert messages[1].reasoning == "Two cities: one call each." and messages[-1].reasoning == "Both are 21."

    at.run()  # replayed from the stored conversation
    assert not at.exception
    _, replayed = at.chat_message
    statuses = [c for c in replayed.children.values() if type(c).__name__ == "Status"]
    assert [[c.value for c in s.code][1] for s in statuses] == ["Paris: 21 degrees", "Rome: 21 degrees"]
    assert len([e for e in replayed.expander if "Thinking" in e.label]) == 2


def test_thinking_switch_off_sends_nothink(glm46: ScriptedServer) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_app_chat import MAIN

    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.toggle(key="chat-thinking").set_value(False).run()
    at.chat_input[0].set_value("Hello").run()
    assert not at.exception
    prompt = glm46.requests[-1]["body"]["prompt"]
    assert prompt.endswith("<|user|>\nHello/nothink<|assistant|>\n<think></think>")
    assert at.chat_message[-1].markdown[-1].value == "Hi!"


def test_documents_page_shows_reasoning_apart(base_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat mode: the server's `reasoning_content` (vLLM's glm45 reasoning parser) shown apart."""
    from app.docs import isolate
    from tests.test_docs_page import open_page, uploader

    reply = "\n<think>The memo says 3318.</think>\nThe code is 3318 [memo.txt, line 1]."
    with ScriptedServer([Rule(reply, when="vault")]) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "chat")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_MODEL", "glm-4.6")
        try:
            at = open_page()
            uploader(at).upload("memo.txt", b"The vault code is 3318.\n")
            at.run()
            at.chat_input(key="documents-input").set_value("Which code opens the vault?").run()
            assert not at.exception
            _, assistant = at.chat_message
            thinking = [e for e in assistant.expander if "Thinking" in e.label]
            assert [e.markdown[0].value for e in thinking] == ["The memo says 3318."]
            answers = [m.value for m in assistant.markdown if m.value.startswith("The code is 3318 [")]
            assert len(answers) == 1 and "The memo says" not in answers[0]
            assert "memo.txt, line 1" in answers[0] and "&page=1" in answers[0]
            at.run()
            _, replayed = at.chat_message
            assert [e.label for e in replayed.expander if "Thinking" in e.label]
        finally:
            isolate.shutdown()


def test_no_thinking_switch_for_glm4(base_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GLM-4 doesn't reason first: the switch would do nothing, so it isn't offered."""
    from streamlit.testing.v1 import AppTest

    from tests.test_app_chat import MAIN

    with ScriptedServer([Rule("\nHi!")]) as server:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_MODE", "completions")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_MODEL", "THUDM/glm-4-9b-chat-hf")
        at = AppTest.from_file(MAIN, default_timeout=120)
        at.run()
    assert not at.exception
    assert "chat-thinking" not in [t.key for t in at.toggle]
