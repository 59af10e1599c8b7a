"""The incremental parser gives one result however the output is split into chunks."""

import random

import pytest

from models.events import TextDelta, ToolCallDelta
from models.protocols.glm4 import OutputParser, ParsedOutput

OUTPUTS: dict[str, tuple[str, ParsedOutput]] = {
    "plain answer": ("\nThe answer is 42.", ParsedOutput("", "The answer is 42.", False)),
    "answer ending at a stop token": ("\n你好！<|user|>junk", ParsedOutput("", "你好！", True)),
    "answer without the metadata line": ("Sure, here it is.", ParsedOutput("", "Sure, here it is.", False)),
    "chinese answer without the metadata line": (
        "好的，我来帮你。",
        ParsedOutput("", "好的，我来帮你。", False),
    ),
    "python raw": (
        "python\nimport math\nprint(math.pi)",
        ParsedOutput("python", "import math\nprint(math.pi)", False),
    ),
    "python fenced": (
        "python\n```python\nx = [1, 2]\nprint(x)\n```<|observation|>",
        ParsedOutput("python", "x = [1, 2]\nprint(x)", True),
    ),
    "browser search with commas, quotes, parens": (
        'simple_browser\nsearch("GLM-4, \\"9B\\" (chat)", recency_days=7)<|observation|>',
        ParsedOutput("simple_browser", 'search("GLM-4, \\"9B\\" (chat)", recency_days=7)', True),
    ),
    "browser mclick": (
        "simple_browser\nmclick([0, 3, 5])",
        ParsedOutput("simple_browser", "mclick([0, 3, 5])", False),
    ),
    "function with json": (
        'get_weather\n{"city": "Paris, France", "unit": "c"}<|observation|>',
        ParsedOutput("get_weather", '{"city": "Paris, France", "unit": "c"}', True),
    ),
    "unknown tool name": ("launch_rockets\n{}", ParsedOutput("launch_rockets", "{}", False)),
    "truncated call": ('get_weather\n{"city": "Par', ParsedOutput("get_weather", '{"city": "Par', False)),
    "truncated inside a stop token": ("\nHello<|obse", ParsedOutput("", "Hello<|obse", False)),
    "empty output": ("", ParsedOutput("", "", False)),
    "newline only": ("\n", ParsedOutput("", "", False)),
    "answer with angle brackets": (
        "\nuse <b> and <|x|> here",
        ParsedOutput("", "use <b> and <|x|> here", False),
    ),
}


def parse(chunks: list[str]) -> tuple[str, str, ParsedOutput]:
    parser = OutputParser()
    events = [e for e in map(parser.feed, chunks) if e is not None]
    tail, output = parser.finish()
    events += tail
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    call = "".join(e.text for e in events if isinstance(e, ToolCallDelta))
    return text, call, output


def splits(text: str) -> list[list[str]]:
    """Every two-way split, one chunk per character, and seeded random multi-way splits."""
    out = [[text], list(text)] + [[text[:i], text[i:]] for i in range(len(text) + 1)]
    rng = random.Random(len(text))
    for _ in range(30):
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(1, 8))))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)])
    return out


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_same_result_for_every_split(name: str) -> None:
    raw, expected = OUTPUTS[name]
    first = parse([raw])
    assert first[2] == expected
    for chunks in splits(raw):
        assert parse(chunks) == first, chunks


def test_answer_streams_before_the_output_ends() -> None:
    parser = OutputParser()
    assert parser.feed("\nHel") == TextDelta("Hel")
    assert parser.feed("lo, wor") == TextDelta("lo, wor")


def test_held_back_only_while_a_stop_string_is_possible() -> None:
    parser = OutputParser()
    assert parser.feed("\nA <|us") == TextDelta("A ")
    assert parser.feed("ed|>") == TextDelta("<|used|>")


def test_tool_call_deltas_name_the_tool() -> None:
    parser = OutputParser()
    assert parser.feed("python\nprint(1)") == ToolCallDelta("python", "print(1)")


def test_linear_in_output_length() -> None:
    """Work per chunk is bounded: the parser keeps no growing buffer to rescan."""
    parser = OutputParser()
    parser.feed("\n")
    for _ in range(20_000):
        parser.feed("word ")
    assert len(parser._stops._tail) < 16
    assert parser._head == []
