"""Typed functions become tools; every bad call becomes an observation, never an exception."""

import json
from pathlib import Path
from typing import Literal

import pytest

from app.errors import ToolDefinitionError
from app.tools import register_tool
from app.tools.base import ToolContext
from app.tools.registry import dispatch, get_tool, load_plugins, unregister


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("s1", tmp_path)


@pytest.fixture
def weather():
    @register_tool
    def get_weather(city: str, unit: Literal["c", "f"] = "c", days: list[int] | None = None) -> str:
        """Current weather for a city.

        Args:
            city: City name.
            unit: Temperature unit.
            days: Days ahead to forecast,
                zero for today.
        """
        if city == "Atlantis":
            raise LookupError("no such city")
        return f"{city}: 21 {unit} {days or []}"

    yield get_tool("get_weather")
    unregister("get_weather")


def test_schema_from_hints_and_docstring(weather) -> None:
    assert weather.function_schema == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name."},
                "unit": {
                    "enum": ["c", "f"],
                    "type": "string",
                    "description": "Temperature unit.",
                    "default": "c",
                },
                "days": {
                    "type": ["array", "null"],
                    "items": {"type": "integer"},
                    "description": "Days ahead to forecast, zero for today.",
                    "default": None,
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }


def test_good_call(weather, ctx) -> None:
    result = dispatch("get_weather", '{"city": "Paris, France", "days": [1]}', ctx)
    assert (result.content, result.is_error) == ("Paris, France: 21 c [1]", False)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Paris"', "not valid JSON"),
        ('["Paris"]', "must be one JSON object"),
        ('{"city": 3}', "city: 3 is not of type 'string'"),
        ('{"city": "Paris", "unit": "k"}', "unit: 'k' is not one of ['c', 'f']"),
        ("{}", "'city' is a required property"),
        (
            '{"city": "Paris", "country": "FR"}',
            "Additional properties are not allowed ('country' was unexpected)",
        ),
        ('{"city": "Atlantis"}', "get_weather raised LookupError: no such city"),
    ],
)
def test_bad_calls_become_observations(weather, ctx, arguments: str, expected: str) -> None:
    result = dispatch("get_weather", arguments, ctx)
    assert result.is_error
    assert expected in result.content


def test_unknown_tool_lists_the_valid_names(weather, ctx) -> None:
    result = dispatch("get_wether", "{}", ctx)
    assert result.is_error
    assert "Unknown tool 'get_wether'" in result.content
    assert "get_weather" in result.content


def test_missing_annotation_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="'city' has no type annotation"):

        @register_tool
        def lookup(city) -> str:
            """Look up.

            Args:
                city: City.
            """


def test_missing_argument_description_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="'city' has no description"):

        @register_tool
        def lookup(city: str) -> str:
            """Look up a city."""


def test_missing_docstring_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="needs a docstring"):

        @register_tool
        def lookup(city: str) -> str:
            return city


@pytest.mark.parametrize("name", ["python", "simple_browser"])
def test_builtin_names_are_reserved(name: str) -> None:
    def impostor(code: str) -> str:
        """Pretend.

        Args:
            code: Code.
        """
        return code

    impostor.__name__ = name
    with pytest.raises(ToolDefinitionError, match="built-in"):
        register_tool(impostor)


def test_plugins_load_from_files_and_report_errors(tmp_path: Path, ctx) -> None:
    good = tmp_path / "good_tools.py"
    good.write_text(
        "from app.tools import register_tool\n\n"
        "@register_tool\n"
        "def shout(text: str) -> dict:\n"
        '    """Upper-case some text.\n\n    Args:\n        text: The text.\n    """\n'
        "    return {'loud': text.upper()}\n"
    )
    broken = tmp_path / "broken_tools.py"
    broken.write_text("import no_such_module_here\n")
    try:
        errors = load_plugins([str(good), str(broken), str(tmp_path / "missing.py")])
        assert errors[str(good)] is None
        assert "No module named 'no_such_module_here'" in errors[str(broken)]
        assert "no Python file" in errors[str(tmp_path / "missing.py")]
        assert json.loads(dispatch("shout", '{"text": "hi"}', ctx).content) == {"loud": "HI"}
    finally:
        unregister("shout")


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        ("app.tools.python_tool:make_python_tool", "code"),
        ("app.tools.browser:make_browser_tool", "command"),
        ("app.tools.cogview:make_cogview_tool", "prompt"),
    ],
)
def test_builtins_are_one_string_parameter_functions(make: str, parameter: str) -> None:
    """Each built-in is declared (for chat servers and GLM-4.5+) as a function of one required string,
    and its call text and structured arguments convert both ways."""
    import importlib

    module, name = make.split(":")
    tool = getattr(importlib.import_module(module), name)()
    schema = tool.function_schema["parameters"]
    assert tool.builtin and tool.template_entry == {"type": tool.name}
    assert schema["required"] == [parameter] and list(schema["properties"]) == [parameter]
    assert schema["properties"][parameter]["type"] == "string"
    assert schema["properties"][parameter]["description"]
    text = 'print("a, b")\n' if parameter == "code" else 'search("a, b")'
    assert tool.arguments_from_text(text) == {parameter: text}
    assert tool.text_from_arguments({parameter: text}) == text
