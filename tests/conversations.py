"""Conversations in GLM-4's shapes, shared by the protocol tests."""

from dataclasses import dataclass
from typing import Any

from models.messages import Message


@dataclass(frozen=True)
class Entry:
    """A tool known by its GLM-4 template entry only: all the GLM-4 renderer reads of a tool."""

    template_entry: dict[str, Any]


def declared(entries: list[dict[str, Any]]) -> list[Entry]:
    return [Entry(e) for e in entries]


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city, 北京 included.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name."},
                "unit": {"enum": ["c", "f"], "type": "string", "description": "Unit.", "default": "c"},
            },
            "required": ["city"],
        },
    },
}
PYTHON = {"type": "python"}
BROWSER = {"type": "simple_browser"}
COGVIEW = {"type": "cogview"}

CONVERSATIONS: list[tuple[str, list[Message], list[dict]]] = [
    ("plain question", [Message("user", "Hello")], []),
    ("system and user", [Message("system", "Be brief."), Message("user", "你好，世界")], []),
    (
        "multi-turn",
        [Message("user", "Hi"), Message("assistant", "Hello! How can I help?"), Message("user", "2+2?")],
        [],
    ),
    ("one function tool", [Message("user", "Weather in Paris?")], [WEATHER]),
    ("all built-ins", [Message("user", "Plot sin(x)")], [PYTHON, BROWSER, COGVIEW]),
    (
        "function call and observation",
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
            Message("observation", '{"temp": 21}'),
        ],
        [WEATHER, PYTHON],
    ),
    (
        "python call with fenced code",
        [
            Message("user", "Compute 2**10"),
            Message("assistant", "```python\nprint(2**10)\n```", metadata="python"),
            Message("observation", "1024"),
            Message("assistant", "2**10 = 1024."),
        ],
        [PYTHON],
    ),
    (
        "browser search with commas and quotes",
        [
            Message("user", "Search GLM-4 news"),
            Message(
                "assistant", 'search("GLM-4, \\"news\\" (2024)", recency_days=7)', metadata="simple_browser"
            ),
            Message(
                "observation", "【0†GLM-4 released†example.com】\nGLM-4 is out.", metadata="browser_result"
            ),
            Message("assistant", "GLM-4 is out【0†source】."),
        ],
        [BROWSER],
    ),
    (
        "system prompt with tools and an empty observation dropped",
        [
            Message("system", "You are a helpful assistant."),
            Message("user", "Run it"),
            Message("assistant", "pass", metadata="python"),
            Message("observation", ""),
            Message("assistant", "Done."),
        ],
        [PYTHON, WEATHER],
    ),
    (
        "two tool rounds",
        [
            Message("user", "Weather in Paris and Rome?"),
            Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
            Message("observation", "21"),
            Message("assistant", '{"city": "Rome"}', metadata="get_weather"),
            Message("observation", "25"),
            Message("assistant", "Paris 21, Rome 25."),
            Message("user", "Thanks!"),
        ],
        [WEATHER],
    ),
    (
        "text before a call in the same step",
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", "Let me look that up."),
            Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
            Message("observation", "21"),
            Message("assistant", "It is 21 degrees."),
        ],
        [WEATHER],
    ),
    (
        "observation with a tag",
        [
            Message("user", "Open the page"),
            Message("assistant", 'open_url("https://example.com/a?b=1,2")', metadata="simple_browser"),
            Message("observation", "Page text", metadata="quote_result [1†source]"),
        ],
        [BROWSER],
    ),
]
