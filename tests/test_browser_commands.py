"""Parsing browser calls, the tool's declaration, and citation rendering (no network)."""

import json
from pathlib import Path

import pytest

from app.tools.base import ToolContext
from app.tools.browser import make_browser_tool, render_citations
from app.tools.browser.citations import add_source, browser_state
from app.tools.browser.commands import USAGE, CommandError, MClick, OpenURL, Search, parse_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('search("a, b (c) \\"d\\" 日本の天気", recency_days=7)', Search('a, b (c) "d" 日本の天気', 7)),
        ("search('it\\'s (really) fine, ok')", Search("it's (really) fine, ok")),
        ('search(query="q", recency_days=30)', Search("q", 30)),
        ('search("q", 3)', Search("q", 3)),
        ('  search("padded")\n', Search("padded")),
        ('```python\nsearch("fenced")\n```', Search("fenced")),
        ("mclick([0, 3, 5])", MClick([0, 3, 5])),
        ("mclick(ids=(1, 2, 2, 1))", MClick([1, 2])),
        ('open_url("https://例え.jp/a?b=1,2&c=(3)")', OpenURL("https://例え.jp/a?b=1,2&c=(3)")),
        ('open_url(url="www.example.org/a")', OpenURL("https://www.example.org/a")),
        ('open_url("file:/etc/passwd")', OpenURL("file:/etc/passwd")),
        ('open_url("example.com:8080/x")', OpenURL("https://example.com:8080/x")),
        ('open_url("localhost:3000")', OpenURL("https://localhost:3000")),
        ('open_url("//cdn.example/a")', OpenURL("https://cdn.example/a")),
        ('open_url("HTTP://Example.com/")', OpenURL("HTTP://Example.com/")),
        ("mclick([7])", MClick([7])),
        (f"mclick({[*range(10), 9, 0]})", MClick(list(range(10)))),
    ],
)
def test_accepted_calls(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('search("unclosed"', "Python syntax"),
        ('search("a") ; search("b")', "Python syntax"),
        ('eval("1+1")', "unknown function 'eval'"),
        ('os.system("ls")', "expected a call"),
        ('search(__import__("os").getcwd())', "literals"),
        ('search(query="q", "x")', "Python syntax"),
        ('search("q", days=3)', "search:"),
        ("search()", "search:"),
        ('search("   ")', "non-empty query"),
        ('search("q", recency_days=0)', "recency_days"),
        ('search("q", recency_days=True)', "recency_days"),
        ("mclick([])", "non-empty list"),
        ("mclick([True])", "whole numbers"),
        ('mclick(["3"])', "whole numbers"),
        ("mclick([-1])", "whole numbers"),
        (f"mclick({list(range(11))})", "at most 10 ids at once, got 11"),
        ("mclick(*[[1]])", "* and **"),
        ("open_url(42)", "URL string"),
        ("just some words", "Python syntax"),
        ("", "Python syntax"),
    ],
)
def test_rejected_calls_explain_the_three_forms(text, reason):
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    message = str(caught.value)
    assert reason in message
    for form in ('search("query", recency_days=7)', "mclick([0, 3, 5])", 'open_url("https://example.com/")'):
        assert form in message


def test_usage_states_what_mclick_accepts():
    assert "1 to 10 ids" in USAGE
    assert parse_command("mclick([4])") == MClick([4])
    assert parse_command(f"mclick({list(range(10))})") == MClick(list(range(10)))


def test_malformed_call_is_an_observation_not_an_exception(tmp_path: Path):
    ctx = ToolContext(session_id="s", workdir=tmp_path)
    result = make_browser_tool().run("mclick(0, 3", ctx)
    assert result.is_error
    assert result.metadata == "system_error"
    assert "open_url(" in result.content


def test_tool_declaration():
    tool = make_browser_tool()
    assert tool.name == "simple_browser"
    assert tool.builtin
    assert tool.template_entry == {"type": "simple_browser"}
    assert tool.parameters["required"] == ["command"]
    call = 'search("a, b", recency_days=2)'
    assert tool.text_from_arguments(tool.arguments_from_text(call)) == call


def _state_with(*sources: tuple[str, str]) -> dict:
    tool_state: dict = {}
    state = browser_state(tool_state)
    for title, url in sources:
        add_source(state, title, url, "page")
    return tool_state


def test_citations_become_links_with_escaped_titles():
    tool_state = _state_with(("Tomato *care*", "https://ex.org/a b(1)"), ("", "https://plain.org/x"))
    text = "Water daily【0†Tomato care】 and mulch【1†L3-L9】."
    rendered = render_citations(text, tool_state)
    assert rendered == (
        r"Water daily[Tomato \*care\*](https://ex.org/a%20b%281%29) and mulch[plain\.org](https://plain.org/x)."
    )
    assert render_citations(text, tool_state["simple_browser"]) == rendered


def test_unknown_citations_stay_plain_and_cannot_inject_markup():
    tool_state = _state_with(("A", "https://a.org/"))
    text = "See【7†[click](javascript:alert(1))】 and【0†ok】"
    rendered = render_citations(text, tool_state)
    assert rendered.startswith(r"See【7†\[click\]\(javascript:alert\(1\)\)】 and[A](https://a.org/)")
    assert render_citations(text, {}) == (r"See【7†\[click\]\(javascript:alert\(1\)\)】 and【0†ok】")


def test_citation_state_is_plain_json():
    tool_state = _state_with(("T", "https://t.org/"))
    restored = json.loads(json.dumps(tool_state))
    assert render_citations("【0†x】", restored) == "[T](https://t.org/)"
