"""A refused request, a server that can't be reached and a connection lost mid-answer reach the user in
their language: the model layer reports each as a kind with values, the UI says it from the catalogue,
and a stored turn says it again in the language of the day. Real HTTP against the scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.agent import TurnError, model_failure, run_turn
from app.tools.base import ToolContext
from app.ui.i18n import LANGUAGE_KEY
from models.backends.remote import load_openai_backend
from models.errors import RequestRefused
from models.events import TextDelta
from models.messages import GenerationParams, Message
from tests.scripted_server import Rule, ScriptedServer
from tests.test_app_chat import MAIN
from tests.test_app_turns import env, errors  # noqa: F401 (env is a fixture)

CTX = ToolContext("s", Path("."))
PARAMS = GenerationParams(temperature=0.0, max_new_tokens=16)


@pytest.mark.parametrize(
    ("detail", "kind"),
    [
        (
            "This model's maximum context length is 8192 tokens. However, you requested 8193 tokens.",
            "too_long",
        ),
        ("Input length (9000 tokens) exceeds the maximum allowed length (8192 tokens).", "too_long"),
        ("the request exceeds the available context size, try increasing it", "too_long"),
        ("Either prompt or prompt_embeds must be provided and non-empty.", "bad_request"),
    ],
)
def test_a_refusal_says_whether_the_prompt_was_too_long(detail: str, kind: str) -> None:
    failure = model_failure(RequestRefused(400, detail))
    assert failure.refused and failure.kind == kind
    assert failure.values == {"status": 400, "detail": detail}


def turn_end(backend, question: str = "Tell me about lighthouses.") -> tuple[str, TurnError]:
    """What was streamed, and the error the turn ended with."""
    events = list(run_turn(backend, [], [Message("user", question)], PARAMS, CTX, 3))
    assert isinstance(events[-1], TurnError), events[-1]
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events[-1]


LONG = (
    "This model's maximum context length is 8192 tokens. However, you requested 8193 tokens.",
    "too_long",
)


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_a_connection_lost_mid_answer_and_a_server_gone(mode: str) -> None:
    reply = Rule("\nLighthouses guide ships along dark coasts at night.", cut_after=3)
    with ScriptedServer([reply]) as server:
        backend = load_openai_backend(server.base_url, "k", "", mode)
        streamed, lost = turn_end(backend)
    assert lost.kind == "lost" and not lost.refused and lost.values["detail"]
    assert streamed.startswith("Lighthouses"), "it broke off mid-answer"
    streamed, gone = turn_end(backend)  # the server has stopped: nothing answers on its port
    assert gone.kind == "unreachable" and not gone.refused and streamed == ""


def in_language(at: AppTest, language: str) -> AppTest:
    at.session_state[LANGUAGE_KEY] = language
    at.run()
    assert not at.exception
    return at


def open_app(language: str, cid: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state[LANGUAGE_KEY] = language
    if cid:
        at.query_params["c"] = cid
    at.run()
    assert not at.exception
    return at


def ask(at: AppTest, text: str) -> list[str]:
    at.chat_input[0].set_value(text).run()
    assert not at.exception
    return errors(at.chat_message[-1])


def test_a_too_long_question_refused_by_the_server_in_both_languages(
    env,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's limit is set far above the server's, so the server refuses; the error is Chinese in a
    Chinese session, and the stored turn reads in English once the session switches."""
    monkeypatch.setenv("GLM_MAX_CONTEXT", "100000")
    with ScriptedServer([Rule("\nFine.")], max_model_len=300) as server:
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        at = open_app("zh")
        (error,) = ask(at, "灯塔 " * 400)
        assert "超出了模型的上下文长度" in error and "maximum context length is 300" in error
        (english,) = errors(in_language(at, "en").chat_message[1])
        assert "longer than the model's context" in english and "maximum context length is 300" in english
        reopened = open_app("en", at.session_state["conversation:chat"].id)
        assert errors(reopened.chat_message[1]) == [english], "the stored turn, replayed"


def test_a_lost_connection_in_both_languages(env) -> None:  # noqa: F811
    serve, _ = env
    serve([Rule("\nLighthouses guide ships along dark coasts.", cut_after=2, when="灯塔"), Rule("\nYes.")])
    at = open_app("zh")
    (error,) = ask(at, "讲讲灯塔")
    assert "与模型服务器的连接中断了" in error
    (english,) = errors(in_language(at, "en").chat_message[1])
    assert "The connection to the model server was lost" in english
    ask(at, "Still there?")
    assert at.chat_message[-1].markdown[-1].value == "Yes.", "the conversation goes on"


def test_an_unreachable_server_at_load_in_both_languages(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    chinese = open_app("zh")
    assert any("无法连接 GLM_API_BASE=http://127.0.0.1:9/v1" in e for e in errors(chinese))
    english = open_app("en")
    assert any("Can't reach the OpenAI-compatible server at GLM_API_BASE=" in e for e in errors(english))


def test_the_tool_parser_fallback_notice_in_both_languages(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A model the app doesn't know, on a server without a tool parser: chat is refused, the turn goes
    through raw completions, and the note says so in the session's language, then in the other."""
    monkeypatch.setenv("GLM_MODEL", "my-finetune")
    rules = [
        Rule('get_weather\n{"city": "巴黎"}', when="天气"),
        Rule("\n巴黎现在 21 度。", when="21 degrees"),
    ]
    with ScriptedServer(rules, tool_parser=False) as server:
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        at = open_app("zh")
        at.chat_input[0].set_value("巴黎天气怎么样？").run()
        assert not at.exception
        assert at.chat_message[-1].markdown[-1].value == "巴黎现在 21 度。"
        (chinese,) = [i.value for i in at.chat_message[-1].info]
        assert "GLM Studio 已改用原始 completions 接口" in chinese and "my-finetune" in chinese
        english = [i.value for i in in_language(at, "en").chat_message[-1].info]
    assert english == [
        "The server refused tools in chat mode for my-finetune (it was started without a tool-call parser), "
        "so GLM Studio now sends raw completions and parses the tool calls itself. Set GLM_API_MODE to "
        "silence this note."
    ]


def test_an_unreachable_vision_server_in_both_languages(env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GLM_VISION_MODEL", "glm-4v")
    page = str(Path(MAIN).parent / "pages" / "vision.py")
    shown = {}
    for language in ("zh", "en"):
        at = AppTest.from_file(page, default_timeout=60)
        at.session_state[LANGUAGE_KEY] = language
        at.run()
        assert not at.exception
        shown[language] = errors(at)
    assert any("无法连接 GLM_VISION_API_BASE=http://127.0.0.1:9/v1" in e for e in shown["zh"])
    assert any("Can't reach the OpenAI-compatible server at GLM_VISION_API_BASE=" in e for e in shown["en"])
