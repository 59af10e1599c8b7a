"""The agent loop on the GLM-4.5 protocol against a scripted GLM-4.6 behind a real OpenAI-compatible
server: raw completions (the app renders the GLM-4.5 prompt and parses the raw output) and chat
completions (the server sends `reasoning_content` and several `tool_calls`, as vLLM's glm45 parsers)."""

import json
from pathlib import Path

import pytest

from app.agent import Answer, ToolFinished, ToolStarted, TurnError, run_turn
from app.tools.base import ToolContext
from models.backends.remote import load_openai_backend
from models.events import ReasoningDelta, TextDelta, ToolCallDelta
from models.messages import GenerationParams, Message
from models.protocols import glm45
from tests.scripted_server import Rule, ScriptedServer

MODEL = "zai-org/GLM-4.6"
TWO_CALLS = (
    "\n<think>Two cities: one call each.</think>\nLet me check both."
    "\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"
    "\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Rome</arg_value>\n</tool_call>"
)
ANSWER = "\n<think>Both are 21.</think>\nParis and Rome are both at **21 degrees**."
RULES = [Rule(TWO_CALLS, when="Paris and Rome"), Rule(ANSWER, when="Rome: 21")]


def turn(server: ScriptedServer, mode: str, tools, history: list[Message], **params):
    backend = load_openai_backend(server.base_url, "k", MODEL, mode, model_explicit=True)
    settings = GenerationParams(max_new_tokens=256, **params)
    return list(run_turn(backend, tools, history, settings, ToolContext("s", Path(".")), 5))


def conversation(history: list[Message], events) -> list[Message]:
    """The messages a page appends from the events (as `app.ui.chat_view.stream_turn` does)."""
    out = list(history)
    for event in events:
        if isinstance(event, ToolStarted):
            out += [event.preamble, event.message] if event.preamble else [event.message]
        elif isinstance(event, ToolFinished | Answer):
            out.append(event.message)
    return out


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_reasoning_two_calls_and_an_answer(mode: str, weather_tool) -> None:
    question = [Message("user", "Weather in Paris and Rome?")]
    with ScriptedServer(RULES) as server:
        events = turn(server, mode, [weather_tool], question)
        requests = [r["body"] for r in server.requests]
    assert not [e for e in events if isinstance(e, TurnError)]
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning.strip() in (
        "Two cities: one call each.Both are 21.",
        "Two cities: one call each.\nBoth are 21.",
    )
    assert {e.index for e in events if isinstance(e, ToolCallDelta)} == {0, 1}
    started = [e.message for e in events if isinstance(e, ToolStarted)]
    assert [(m.metadata, json.loads(m.content)) for m in started] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    kinds = [type(e).__name__ for e in events if isinstance(e, ToolStarted | ToolFinished)]
    assert kinds == ["ToolStarted", "ToolStarted", "ToolFinished", "ToolFinished"]
    messages = conversation(question, events)
    assert [(m.role, m.metadata) for m in messages] == [
        ("user", ""),
        ("assistant", ""),
        ("assistant", "get_weather"),
        ("assistant", "get_weather"),
        ("observation", ""),
        ("observation", ""),
        ("assistant", ""),
    ]
    preamble, answer = messages[1], messages[-1]
    assert (preamble.content, preamble.reasoning) == ("Let me check both.", "Two cities: one call each.")
    assert (answer.content, answer.reasoning) == (
        "Paris and Rome are both at **21 degrees**.",
        "Both are 21.",
    )
    assert [m.tool_call_id for m in messages[4:6]] == [m.tool_call_id for m in started]
    assert "**21 degrees**" in "".join(e.text for e in events if isinstance(e, TextDelta))
    second = requests[1]
    if mode == "completions":
        assert all(r["skip_special_tokens"] is False for r in requests), "the tags are special tokens"
        assert second["prompt"] == glm45.render_prompt(messages[:6], [weather_tool])
        assert second["prompt"].count("<|observation|>") == 1
        assert "<think>Two cities: one call each.</think>" in second["prompt"]
        assert second["prompt"].endswith(
            "<|observation|>\n<tool_response>\nParis: 21 degrees\n</tool_response>"
            "\n<tool_response>\nRome: 21 degrees\n</tool_response><|assistant|>"
        )
    else:
        step, first, other = second["messages"][1:4]
        assert step["content"] == "Let me check both."
        assert step["reasoning_content"] == "Two cities: one call each."
        assert [c["function"]["name"] for c in step["tool_calls"]] == ["get_weather", "get_weather"]
        ids = [c["id"] for c in step["tool_calls"]]
        assert [(first["role"], first["tool_call_id"]), (other["role"], other["tool_call_id"])] == [
            ("tool", ids[0]),
            ("tool", ids[1]),
        ]
        assert [first["content"], other["content"]] == ["Paris: 21 degrees", "Rome: 21 degrees"]


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_next_turn_drops_past_reasoning_and_thinking_off(mode: str, weather_tool) -> None:
    question = [Message("user", "Weather in Paris and Rome?")]
    with ScriptedServer([*RULES, Rule("\nYou are welcome.", when="Thanks")]) as server:
        history = conversation(question, turn(server, mode, [weather_tool], question))
        history.append(Message("user", "Thanks"))
        events = turn(server, mode, [weather_tool], history, thinking=False)
        last = server.requests[-1]["body"]
    assert isinstance(events[-1], Answer) and events[-1].message.content == "You are welcome."
    if mode == "completions":
        assert "Two cities" not in last["prompt"] and "Both are 21" not in last["prompt"]
        assert last["prompt"].endswith("<|user|>\nThanks/nothink<|assistant|>\n<think></think>")
    else:
        assert not any("reasoning_content" in m for m in last["messages"])
        assert last["chat_template_kwargs"] == {"enable_thinking": False}


def test_step_limit_counts_each_call_of_a_step(weather_tool) -> None:
    question = [Message("user", "Weather in Paris and Rome?")]
    with ScriptedServer(RULES) as server:
        backend = load_openai_backend(server.base_url, "k", MODEL, "completions", model_explicit=True)
        params = GenerationParams(max_new_tokens=256)
        events = list(run_turn(backend, [weather_tool], question, params, ToolContext("s", Path(".")), 1))
    assert [e.message.content for e in events if isinstance(e, ToolFinished)] == ["Paris: 21 degrees"]
    assert isinstance(events[-1], TurnError) and "GLM_MAX_STEPS=1" in events[-1].text
