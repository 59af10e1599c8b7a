"""The agent loop against a scripted GLM-4 behind a real OpenAI-compatible server, in both API modes."""

import argparse
import json
import threading
from pathlib import Path

import pytest

from app.agent import Answer, HistoryTrimmed, ToolFinished, ToolStarted, TurnError, run_turn
from app.tools.base import Tool, ToolContext, ToolResult
from app.tools.registry import get_tool, register_tool
from models.backends import BackendLoadError, get_text_backend
from models.backends.remote import DEFAULT_CONTEXT, load_openai_backend
from models.events import TextDelta, ToolCallDelta
from models.fit import FIT_NOTE
from models.messages import GenerationParams, Message
from models.tokens import estimate_tokens
from tests.scripted_server import Rule, ScriptedServer, tokens

MODES = ["chat", "completions"]
CTX = ToolContext("s", Path("."))


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


@pytest.mark.parametrize("mode", MODES)
def test_answer_says_why_it_ended(mode: str) -> None:
    with ScriptedServer([Rule("\n" + "word " * 40)]) as server:
        full = turn(server, mode, [], "talk")[-1]
        cut = turn(server, mode, [], "talk", params=GenerationParams(max_new_tokens=5))[-1]
    assert isinstance(full, Answer) and full.message.info["finish_reason"] == "stop"
    assert isinstance(cut, Answer) and cut.message.info["finish_reason"] == "length"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("flags", "raised"), [("--bogus", "SystemExit(2)"), ("interrupt", "KeyboardInterrupt()")]
)
def test_tool_that_exits_becomes_an_observation(mode: str, flags: str, raised: str) -> None:
    @register_tool
    def count_flags(flags: str) -> str:
        """Parse command-line flags.

        Args:
            flags: Flags such as --n 3.
        """
        if flags == "interrupt":
            raise KeyboardInterrupt
        parser = argparse.ArgumentParser(prog="count_flags")
        parser.add_argument("--n", type=int, required=True)
        return str(parser.parse_args(flags.split()).n)

    rules = [
        Rule(f'count_flags\n{{"flags": "{flags}"}}', when="flags please"),
        Rule("\nThe tool gave up.", when="instead of returning"),
    ]
    with ScriptedServer(rules) as server:
        events = turn(server, mode, [get_tool("count_flags")], "flags please")
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.result.is_error
    assert f"raised {raised} instead of returning a result" in finished.message.content
    assert events[-1].message.content == "The tool gave up."


def test_text_written_with_a_call_is_kept_and_sent_back(weather_tool) -> None:
    said = "Let me look that up for you."
    rules = [
        Rule('get_weather\n{"city": "Paris"}', when="weather in", content=said),
        Rule("\nIt is 21 degrees.", when="21 degrees"),
    ]
    with ScriptedServer(rules) as server:
        events = turn(server, "chat", [weather_tool])
        final = server.requests[-1]["body"]
    first_call = next(i for i, e in enumerate(events) if isinstance(e, ToolCallDelta))
    assert "".join(e.text for e in events[:first_call] if isinstance(e, TextDelta)) == said
    started = next(e for e in events if isinstance(e, ToolStarted))
    assert started.preamble == Message("assistant", said)
    assert [m["role"] for m in final["messages"]] == ["user", "assistant", "tool"]
    call = final["messages"][1]
    assert call["content"] == said
    assert call["tool_calls"][0]["function"]["name"] == "get_weather"
    assert final["messages"][2]["tool_call_id"] == call["tool_calls"][0]["id"]
    assert events[-1].message.content == "It is 21 degrees."


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch):
    """Configure the openai backend through GLM_* variables, as the app does."""

    def configure(server: ScriptedServer, mode: str, **extra: str) -> None:
        for name in ("GLM_MODEL", "GLM_MAX_CONTEXT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base_url)
        monkeypatch.setenv("GLM_API_MODE", mode)
        for name, value in extra.items():
            monkeypatch.setenv(name, value)

    return configure


@pytest.mark.parametrize("mode", MODES)
def test_server_without_a_models_list_works_when_the_model_is_named(mode: str, openai_env) -> None:
    with ScriptedServer([Rule("\nHello there.")], list_models=False) as server:
        openai_env(server, mode, GLM_MODEL="glm-4-hosted")
        backend = get_text_backend()
        events = list(run_turn(backend, [], [Message("user", "hi")], GenerationParams(), CTX, 5))
        gets, body = server.script.gets, server.requests[-1]["body"]
    assert gets == ["/v1/models"], "the server was asked for its models and answered 404"
    assert backend.context_window == DEFAULT_CONTEXT
    assert body["model"] == "glm-4-hosted"
    assert events[-1].message.content == "Hello there."


def test_server_without_a_models_list_needs_the_model_name(openai_env) -> None:
    with ScriptedServer([], list_models=False) as server:
        openai_env(server, "chat")
        with pytest.raises(BackendLoadError, match=r"answers 404 on /models.*Set GLM_MODEL"):
            get_text_backend()


def read_page(url: str) -> str:
    """Read a page.

    Args:
        url: The page's address.
    """
    return "".join(f"line {i} of the page\n" for i in range(3000))


OLD_TURNS = [
    message
    for k in range(8)
    for message in (
        Message("user", f"old question {k}"),
        Message("assistant", f"old answer {k}: " + "blah " * 60),
    )
]
FIT_CUT = FIT_NOTE


def sent_tokens(request: dict) -> int:
    """Prompt tokens of a request, counted as the backend counts them."""
    body = request["body"]
    if "prompt" in body:
        return estimate_tokens(body["prompt"])
    texts = [m.get("content") or "" for m in body["messages"]]
    texts += [c["function"]["arguments"] for m in body["messages"] for c in m.get("tool_calls", [])]
    return sum(estimate_tokens(t) for t in texts)


@pytest.mark.parametrize("mode", MODES)
def test_history_is_fitted_to_the_context_window(mode: str, openai_env) -> None:
    register_tool(read_page)
    rules = [
        Rule('read_page\n{"url": "https://example.com"}', when="summarize"),
        Rule("\nThe page counts lines.", when=FIT_CUT),
    ]
    history = [Message("system", "Be brief."), *OLD_TURNS, Message("user", "summarize the page")]
    params = GenerationParams(max_new_tokens=200)
    with ScriptedServer(rules) as server:
        openai_env(server, mode, GLM_MAX_CONTEXT="900")
        backend = get_text_backend()
        events = list(run_turn(backend, [get_tool("read_page")], history, params, CTX, 5))
        requests = list(server.requests)
    assert backend.context_window == 900
    assert len(requests) == 2
    for request in requests:
        assert sent_tokens(request) <= 900 - 200
    first, second = (json.dumps(r["body"], ensure_ascii=False) for r in requests)
    assert "Be brief." in first and "summarize the page" in first
    kept = [k for k in range(8) if f"old question {k}" in first]
    assert kept and kept == list(range(8 - len(kept), 8)), "the oldest turns go first"
    assert "old question 0" not in second
    assert "line 0 of the page" in second and "line 2999 of the page" in second and FIT_CUT in second
    trims = [e for e in events if isinstance(e, HistoryTrimmed)]
    assert trims[0] == HistoryTrimmed(8 - len(kept), 0)
    assert trims[-1].dropped_turns == 8 and trims[-1].shortened_observations == 1
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.message.content == read_page(""), "the history itself keeps everything"
    assert events[-1].message.content == "The page counts lines."


@pytest.mark.parametrize("mode", MODES)
def test_a_turn_too_long_for_the_window_is_refused_with_the_reason(mode: str, openai_env) -> None:
    with ScriptedServer([Rule("\nnever")]) as server:
        openai_env(server, mode, GLM_MAX_CONTEXT="300")
        backend = get_text_backend()
        question = [Message("user", "word " * 2000)]
        events = list(run_turn(backend, [], question, GenerationParams(max_new_tokens=100), CTX, 5))
        sent = len(server.requests)
    assert sent == 0
    assert isinstance(events[-1], TurnError)
    assert events[-1].refused and events[-1].kind in {"prompt_too_long", "prompt_too_long_estimated"}
    assert events[-1].values["window"] == 300 and events[-1].values["tokens"] > 300


@pytest.mark.parametrize("mode", MODES)
def test_timings_count_tokens_not_stream_chunks(mode: str, weather_tool) -> None:
    """Servers report the tokens they generated when asked (`include_usage`, in both modes). A chunk may
    hold several tokens, so the count isn't one of chunks."""
    reply = "\nIt is 21 degrees in Paris, France, and the sky is clear over the river."
    with ScriptedServer([Rule(reply)]) as server:
        events = turn(server, mode, [weather_tool])
        body = server.requests[-1]["body"]
    timings = next(e for e in events if isinstance(e, Answer)).message.info["timings"]
    generated = len(tokens(reply))
    assert body["stream_options"] == {"include_usage": True}
    assert (timings["counted_by"], timings["tokens"]) == ("server", generated)
    assert timings["tokens_per_s"] is None or timings["tokens_per_s"] > 0
