"""The agent loop against a scripted GLM-4 behind a real OpenAI-compatible server, in both API modes."""

import json
import threading
from pathlib import Path

import pytest

from app.agent import Answer, ToolFinished, ToolStarted, TurnError, run_turn
from app.tools.base import Tool, ToolContext, ToolResult
from app.tools.registry import get_tool, register_tool, unregister
from models.backends.remote import load_openai_backend
from models.events import TextDelta, ToolCallDelta
from models.messages import GenerationParams, Message
from tests.scripted_server import Rule, ScriptedServer

MODES = ["chat", "completions"]


@pytest.fixture(scope="module")
def weather_tool():
    @register_tool
    def get_weather(city: str) -> str:
        """Current weather for a city.

        Args:
            city: City name.
        """
        return f"{city}: 21 degrees"

    yield get_tool("get_weather")
    unregister("get_weather")


def echo_code(text: str, ctx: ToolContext) -> ToolResult:
    return ToolResult(f"ran: {text}")


PYTHON_STANDIN = Tool(
    name="python",
    description="Run Python.",
    parameters={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    run=echo_code,
    builtin=True,
    text_from_arguments=lambda a: a["code"],
    arguments_from_text=lambda t: {"code": t},
)


def turn(server: ScriptedServer, mode: str, tools, question: str = "weather in Paris?", **kw):
    backend = load_openai_backend(server.base_url, "test-key", "glm", mode)
    ctx = kw.pop("ctx", None) or ToolContext("s", Path("."))
    params = kw.pop("params", GenerationParams(max_new_tokens=256))
    return list(run_turn(backend, tools, [Message("user", question)], params, ctx, kw.pop("max_steps", 5)))


@pytest.mark.parametrize("mode", MODES)
def test_function_call_round_trip(mode: str, weather_tool) -> None:
    rules = [
        Rule('get_weather\n{"city": "Paris, France"}', when="weather in"),
        Rule("\nIt is 21 degrees in Paris, France.", when="21 degrees"),
    ]
    with ScriptedServer(rules) as server:
        events = turn(server, mode, [weather_tool])
        final = server.requests[-1]["body"]
    kinds = [type(e) for e in events]
    assert ToolCallDelta in kinds
    assert kinds.count(TextDelta) > 3, "the answer should stream in several pieces"
    started = next(e for e in events if isinstance(e, ToolStarted))
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert (started.message.metadata, json.loads(started.message.content)) == (
        "get_weather",
        {"city": "Paris, France"},
    )
    assert finished.message.content == "Paris, France: 21 degrees"
    assert events[-1] == Answer(events[-1].message)
    assert events[-1].message.content == "It is 21 degrees in Paris, France."
    if mode == "chat":
        call, result = final["messages"][1], final["messages"][2]
        assert call["tool_calls"][0]["function"]["name"] == "get_weather"
        assert result == {
            "role": "tool",
            "tool_call_id": call["tool_calls"][0]["id"],
            "content": finished.message.content,
        }
        assert final["tools"][0]["function"]["name"] == "get_weather"
    else:
        call = '<|assistant|>get_weather\n{"city": "Paris, France"}'
        assert final["prompt"].endswith(f"{call}<|observation|>\nParis, France: 21 degrees<|assistant|>")
        assert "<|observation|>" in final["stop"]


@pytest.mark.parametrize("mode", MODES)
def test_builtin_tool_arguments_convert(mode: str) -> None:
    rules = [Rule("python\n```python\nprint(1, 2)\n```", when="compute"), Rule("\nDone.", when="ran:")]
    with ScriptedServer(rules) as server:
        events = turn(server, mode, [PYTHON_STANDIN], "compute it")
        final = server.requests[-1]["body"]
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.message.content == "ran: print(1, 2)"
    if mode == "chat":
        assert json.loads(final["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {
            "code": "print(1, 2)"
        }


@pytest.mark.parametrize("mode", MODES)
def test_bad_json_becomes_an_observation_and_the_turn_goes_on(mode: str, weather_tool) -> None:
    rules = [
        Rule('get_weather\n{"city": Paris}', when="weather in"),
        Rule("\nSorry, let me fix that.", when="JSON"),
    ]
    with ScriptedServer(rules) as server:
        events = turn(server, mode, [weather_tool])
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.result.is_error and "not valid JSON" in finished.message.content
    assert events[-1].message.content == "Sorry, let me fix that."


@pytest.mark.parametrize("mode", MODES)
def test_unknown_tool_is_told_the_valid_names(mode: str, weather_tool) -> None:
    rules = [Rule("get_wether\n{}", when="weather in"), Rule("\nOops.", when="Unknown tool")]
    with ScriptedServer(rules) as server:
        events = turn(server, mode, [weather_tool])
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.message.content == "Unknown tool 'get_wether'. Available tools: get_weather."
    assert events[-1].message.content == "Oops."


@pytest.mark.parametrize("mode", MODES)
def test_step_limit_stops_the_turn(mode: str, weather_tool) -> None:
    with ScriptedServer([Rule('get_weather\n{"city": "Paris"}')]) as server:
        events = turn(server, mode, [weather_tool], max_steps=3)
        calls = len(server.requests)
    assert sum(isinstance(e, ToolFinished) for e in events) == 3
    assert isinstance(events[-1], TurnError) and "GLM_MAX_STEPS=3" in events[-1].text
    assert calls == 4


@pytest.mark.parametrize("mode", MODES)
def test_truncated_call_is_not_run(mode: str, weather_tool) -> None:
    reply = 'get_weather\n{"city": "Paris", "note": "' + "very " * 50 + '"}'
    with ScriptedServer([Rule(reply)]) as server:
        events = turn(server, mode, [weather_tool], params=GenerationParams(max_new_tokens=8))
    assert not any(isinstance(e, ToolStarted) for e in events)
    assert isinstance(events[-1], TurnError) and "cut off at 8 new tokens" in events[-1].text


@pytest.mark.parametrize("mode", MODES)
def test_server_failure_is_a_turn_error(mode: str, weather_tool) -> None:
    with ScriptedServer([Rule("\nnever", when="this will not match")]) as server:
        events = turn(server, mode, [weather_tool])
    assert isinstance(events[-1], TurnError)
    assert "script has no reply" in events[-1].text


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_streaming(mode: str) -> None:
    reply = "\n" + "token " * 400
    with ScriptedServer([Rule(reply, delay=0.01)]) as server:
        backend = load_openai_backend(server.base_url, "k", "glm", mode)
        ctx = ToolContext("s", Path("."), cancel=threading.Event())
        events = []
        for event in run_turn(backend, [], [Message("user", "go")], GenerationParams(), ctx, 5):
            events.append(event)
            if sum(isinstance(e, TextDelta) for e in events) == 5:
                ctx.cancel.set()
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.stopped
    assert len(answer.message.content.split()) < 50
