"""The GLM-4.5/4.6 renderer equals the published GLM-4.6 template as transformers renders it."""

import json
from pathlib import Path

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from app.tools.base import Tool, ToolResult
from models.messages import Message
from models.protocols.glm45 import render_prompt, template_messages, tool_entries

# tests/fixtures/glm-4.6.chat_template.jinja: the chat_template published with zai-org/GLM-4.6.
REFERENCE = (Path(__file__).parent / "fixtures" / "glm-4.6.chat_template.jinja").read_text(encoding="utf-8")


def _tool(name: str, properties: dict, text_from=None, from_text=None, description: str = "") -> Tool:
    extra = {}
    if text_from is not None:
        extra = {"text_from_arguments": text_from, "arguments_from_text": from_text, "builtin": True}
    return Tool(
        name=name,
        description=description or f"The {name} tool.",
        parameters={"type": "object", "properties": properties, "required": list(properties)},
        run=lambda text, ctx: ToolResult(text),
        **extra,
    )


PYTHON = _tool("python", {"code": {"type": "string"}}, lambda a: a["code"], lambda t: {"code": t})
BROWSER = _tool(
    "simple_browser", {"command": {"type": "string"}}, lambda a: a["command"], lambda t: {"command": t}
)
COGVIEW = _tool("cogview", {"prompt": {"type": "string"}}, lambda a: a["prompt"], lambda t: {"prompt": t})
WEATHER = _tool(
    "get_weather",
    {"city": {"type": "string", "description": "City, 北京 included."}, "days": {"type": "integer"}},
    description="Weather forecast for a city.",
)
SEARCH = _tool(
    "lookup", {"terms": {"type": "array", "items": {"type": "string"}}, "options": {"type": "object"}}
)
NOARGS = _tool("now", {})
ALL = [PYTHON, BROWSER, COGVIEW, WEATHER, SEARCH, NOARGS]


def call(name: str, text: str, id_: str = "") -> Message:
    return Message("assistant", text, metadata=name, tool_call_id=id_)


def obs(text: str, id_: str = "") -> Message:
    return Message("observation", text, tool_call_id=id_)


PARALLEL = [
    Message("user", "Weather in Paris and 北京?"),
    Message("assistant", "I'll look both up.", reasoning="Two cities, two calls."),
    call("get_weather", '{"city": "Paris", "days": 2}', "a"),
    call("get_weather", '{"city": "北京", "days": 1}', "b"),
    obs("Paris: 21", "a"),
    obs("北京: 25", "b"),
    Message("assistant", "Paris 21, 北京 25.", reasoning="Both answered."),
]
CONVERSATIONS: list[tuple[str, list[Message], list[Tool]]] = [
    ("plain question", [Message("user", "Hello")], []),
    ("system and user", [Message("system", "Be brief."), Message("user", "你好，世界")], []),
    ("tools declared", [Message("user", "Plot sin(x)")], ALL),
    ("system prompt and tools", [Message("system", "You are helpful."), Message("user", "Hi")], ALL),
    ("parallel calls in the current turn", PARALLEL, ALL),
    (
        "reasoning of an earlier turn dropped",
        [*PARALLEL, Message("user", "And Rome?"), Message("assistant", "Rome 25.", reasoning="Guessing.")],
        ALL,
    ),
    (
        "python and browser calls without text or reasoning",
        [
            Message("user", "Compute 2**10 then search"),
            call("python", "x = 2**10\nprint(x)"),
            obs("1024"),
            Message("assistant", "", reasoning="Now the web."),
            call("simple_browser", 'search("GLM-4.6, \\"news\\"", recency_days=7)'),
            obs("【0†GLM-4.6 released†example.com】"),
            Message("assistant", "2**10 = 1024; GLM-4.6 is out【0†source】."),
        ],
        ALL,
    ),
    (
        "non-string arguments and a call without arguments",
        [
            Message("user", "Look it up"),
            call("lookup", '{"terms": ["a", "b"], "options": {"exact": true, "n": 3}}'),
            call("now", "{}"),
            obs("found"),
            obs("12:00"),
        ],
        ALL,
    ),
    (
        "cogview prompt and an unknown tool",
        [
            Message("user", "Draw a cat"),
            call("cogview", "A cat on a sofa, watercolor"),
            obs("(image)"),
            call("gone_tool", '{"x": 1}'),
            obs("Unknown tool"),
            Message("assistant", "Here it is."),
        ],
        [COGVIEW],
    ),
    (
        "a failed turn's empty message left out",
        [
            Message("user", "Hi"),
            Message("assistant", "", info={"error": "The model failed"}),
            Message("user", "Hi again"),
        ],
        [],
    ),
    (
        "user already ending in /nothink",
        [
            Message("user", "Quick one /nothink"),
            Message("assistant", "Yes."),
            Message("user", "Again/nothink"),
        ],
        [],
    ),
]


def reference_render(
    messages: list[Message],
    tools: list[Tool],
    thinking: bool | None = None,
    add_generation_prompt: bool = True,
) -> str:
    kwargs = {} if thinking is None else {"enable_thinking": thinking}
    rendered, _ = render_jinja_template(
        [template_messages(messages, tools)],
        tools=tool_entries(tools) or None,
        chat_template=REFERENCE,
        add_generation_prompt=add_generation_prompt,
        **kwargs,
    )
    return rendered[0]


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
@pytest.mark.parametrize("thinking", [None, True, False])
def test_renderer_equals_published_template(
    name: str, messages: list[Message], tools: list[Tool], thinking: bool | None
) -> None:
    ours = render_prompt(messages, tools) if thinking is None else render_prompt(messages, tools, thinking)
    assert ours == reference_render(messages, tools, thinking)


def test_without_generation_prompt() -> None:
    messages = PARALLEL
    ours = render_prompt(messages, ALL, add_generation_prompt=False)
    assert ours == reference_render(messages, ALL, add_generation_prompt=False)


def test_one_step_with_two_calls_and_one_observation_turn() -> None:
    prompt = render_prompt(PARALLEL, [WEATHER])
    step = (
        "<|assistant|>\n<think>Two cities, two calls.</think>\nI'll look both up."
        "\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"
        "\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>北京</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>1</arg_value>\n</tool_call>"
        "<|observation|>\n<tool_response>\nParis: 21\n</tool_response>"
        "\n<tool_response>\n北京: 25\n</tool_response>"
        "<|assistant|>\n<think>Both answered.</think>\nParis 21, 北京 25.<|assistant|>"
    )
    assert prompt.endswith(step)
    assert prompt.count("<|observation|>") == 1


def test_tools_are_functions_one_json_line_each() -> None:
    prompt = render_prompt([Message("user", "Hi")], [PYTHON, BROWSER, WEATHER])
    lines = prompt.split("<tools>\n", 1)[1].split("</tools>", 1)[0].splitlines()
    assert [json.loads(line)["function"]["name"] for line in lines] == [
        "python",
        "simple_browser",
        "get_weather",
    ]
    assert json.loads(lines[0])["function"]["parameters"]["properties"] == {"code": {"type": "string"}}
    assert "北京" in lines[2]


def test_past_reasoning_dropped_current_kept() -> None:
    later = [*PARALLEL, Message("user", "Thanks")]
    prompt = render_prompt(later, [])
    assert "Two cities" not in prompt and "Both answered" not in prompt
    assert prompt.count("<think></think>") == 2


def test_nothink_and_thinking_off() -> None:
    off = render_prompt([Message("user", "Hi")], [], thinking=False)
    assert off.endswith("<|user|>\nHi/nothink<|assistant|>\n<think></think>")
    assert render_prompt([Message("user", "Hi")], []).endswith("<|user|>\nHi<|assistant|>")
