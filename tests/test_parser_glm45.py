"""The GLM-4.5/4.6/4.7 output parser gives one result however the output is split into chunks."""

import json

import pytest

from models.events import ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from models.protocols.glm45 import OutputParser
from tests.test_parser import splits
from tests.test_protocol_glm45 import ALL

WEATHER_CALL = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris, France</arg_value>\n"
WEATHER_CALL += "<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"

# raw output -> (reasoning, answer, [(tool, call text)], stopped at a stop token)
OUTPUTS: dict[str, tuple[str, tuple[str, str, list[tuple[str, str]], bool]]] = {
    "thinking then answer": (
        "\n<think>The user greets.</think>\nHello! How can I help?",
        ("The user greets.", "Hello! How can I help?", [], False),
    ),
    "thinking off (empty think in the prompt)": (
        "\nJust the answer.<|user|>",
        ("", "Just the answer.", [], True),
    ),
    "answer without any tag": ("好的，我来帮你。", ("", "好的，我来帮你。", [], False)),
    "one call after text": (
        "<think>Need weather.</think>\nLet me check.\n" + WEATHER_CALL + "<|observation|>",
        ("Need weather.", "Let me check.", [("get_weather", '{"city": "Paris, France", "days": 2}')], True),
    ),
    "two calls in one step": (
        "<think>Two cities.</think>\n"
        + WEATHER_CALL
        + "\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>北京</arg_value>\n</tool_call>",
        (
            "Two cities.",
            "",
            [("get_weather", '{"city": "Paris, France", "days": 2}'), ("get_weather", '{"city": "北京"}')],
            False,
        ),
    ),
    "python code with tags and stop-like text inside": (
        "<think></think>\n<tool_call>python\n<arg_key>code</arg_key>\n"
        "<arg_value>s = '<b>x</b> <|user'\nprint(s < 'z', 1 < 2)\n</arg_value>\n</tool_call>",
        ("", "", [("python", "s = '<b>x</b> <|user'\nprint(s < 'z', 1 < 2)")], False),
    ),
    "GLM-4.7: first arg_key right after the name, and a call without args": (
        "<think>r</think><tool_call>simple_browser<arg_key>command</arg_key>"
        '<arg_value>search("GLM-4.7, \\"news\\"", recency_days=7)</arg_value></tool_call>'
        "<tool_call>now</tool_call>",
        (
            "r",
            "",
            [("simple_browser", 'search("GLM-4.7, \\"news\\"", recency_days=7)'), ("now", "{}")],
            False,
        ),
    ),
    "JSON values for non-string parameters": (
        '<tool_call>lookup\n<arg_key>terms</arg_key>\n<arg_value>["a", "b"]</arg_value>\n'
        '<arg_key>options</arg_key>\n<arg_value>{"n": 3}</arg_value>\n</tool_call>',
        ("", "", [("lookup", '{"terms": ["a", "b"], "options": {"n": 3}}')], False),
    ),
    "a string parameter that looks like JSON stays text": (
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>42</arg_value>\n</tool_call>",
        ("", "", [("get_weather", '{"city": "42"}')], False),
    ),
    "unknown tool: JSON where it parses, text otherwise": (
        "<tool_call>mystery\n<arg_key>n</arg_key>\n<arg_value>7</arg_value>\n"
        "<arg_key>s</arg_key>\n<arg_value>hi there</arg_value>\n</tool_call>",
        ("", "", [("mystery", '{"n": 7, "s": "hi there"}')], False),
    ),
    "truncated inside the reasoning": ("<think>Let me thi", ("Let me thi", "", [], False)),
    "truncated inside a partial tag": (
        "\n<think>ok</think>\nAnswer <tool_ca",
        ("ok", "Answer <tool_ca", [], False),
    ),
    "truncated call still comes out (the loop refuses it by finish reason)": (
        "<tool_call>python\n<arg_key>code</arg_key>\n<arg_value>print(1",
        ("", "", [("python", "{}")], False),
    ),
    "text after a call and angle brackets in the answer": (
        "<think>a<b</think>x < y and <think> stays\n" + WEATHER_CALL + "\nDone.",
        (
            "a<b",
            "x < y and <think> staysDone.",
            [("get_weather", '{"city": "Paris, France", "days": 2}')],
            False,
        ),
    ),
    "empty output": ("", ("", "", [], False)),
    "only whitespace": ("\n\n", ("", "", [], False)),
}


def parse(chunks: list[str]) -> tuple[str, str, list[tuple[str, str]], bool]:
    parser = OutputParser(ALL)
    events = [e for chunk in chunks for e in parser.feed(chunk)] + parser.finish()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [(e.name, e.text) for e in events if isinstance(e, ToolCall)]
    return reasoning, text, calls, parser.stopped_at_token


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_same_result_for_every_split(name: str) -> None:
    raw, expected = OUTPUTS[name]
    assert parse([raw]) == expected
    for chunks in splits(raw):
        assert parse(chunks) == expected, chunks


def test_every_split_point_of_a_long_mixed_output() -> None:
    raw = OUTPUTS["two calls in one step"][0] + "<|observation|>"
    expected = parse([raw])
    for i in range(len(raw) + 1):
        for j in range(i, len(raw) + 1, 7):
            assert parse([raw[:i], raw[i:j], raw[j:]]) == expected, (i, j)


def test_events_stream_before_the_output_ends() -> None:
    parser = OutputParser(ALL)
    assert parser.feed("\n<think>Let me ") == [ReasoningDelta("Let me ")]
    assert parser.feed("think</thi") == [ReasoningDelta("think")]
    assert parser.feed("nk>\nHel") == [TextDelta("Hel")]
    assert parser.feed("lo <tool") == [TextDelta("lo")]
    assert parser.feed("_call>python\n<arg_key>code") == [ToolCallDelta("python", "\n<arg_key>code", 0)]
    events = parser.feed("</arg_key><arg_value>1</arg_value></tool_call>")
    assert isinstance(events[-1], ToolCall) and (events[-1].name, events[-1].text) == ("python", "1")


def test_call_deltas_are_numbered_per_step() -> None:
    parser = OutputParser(ALL, new_id=lambda: "id")
    events = parser.feed(WEATHER_CALL + WEATHER_CALL)
    indexes = {e.index for e in events if isinstance(e, ToolCallDelta)}
    assert indexes == {0, 1}
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [c.id for c in calls] == ["id", "id"] and json.loads(calls[1].text)["days"] == 2


def test_linear_in_output_length() -> None:
    """Nothing grows but the call being written: long reasoning and answers pass straight through."""
    parser = OutputParser(ALL)
    parser.feed("<think>")
    for _ in range(20_000):
        parser.feed("step <")
    parser.feed("/think>")
    for _ in range(20_000):
        parser.feed("word <")
    assert len(parser._held) <= len("<tool_call>") and parser._call == []
