"""The GLM-4.7 renderer equals the published GLM-4.7 template as transformers renders it, and the
parser reads output that starts inside the reasoning the prompt opened."""

import hashlib
import threading
from pathlib import Path

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from app.tools.base import Tool
from models.backends.prompt import PromptBackend
from models.events import Done, ReasoningDelta, TextDelta, ToolCall
from models.messages import GenerationParams, Message
from models.protocols import GLM47, detect_protocol, glm47
from models.protocols.glm45 import OutputParser, template_messages, tool_entries
from tests.test_protocol_glm45 import ALL, CONVERSATIONS, PARALLEL, WEATHER

# tests/fixtures/glm-4.7.chat_template.jinja: the `chat_template.jinja` of zai-org/GLM-4.7-Flash
# (revision 7dd20894a642a0aa287e9827cb1a1f7f91386b67), as llama.cpp keeps it in
# models/templates/GLM-4.7-Flash.jinja: 3120 bytes, the SHA-256 below, pinned with that revision by
# other projects. zai-org/GLM-4.7 publishes the same text (quoted by projects that render GLM-4.7).
FIXTURE = Path(__file__).parent / "fixtures" / "glm-4.7.chat_template.jinja"
PUBLISHED_SHA256 = "d63ad536c3c81880043e22ec7fd08db42b4d8fb7c89c7138bc562bfa25281375"
REFERENCE = FIXTURE.read_text(encoding="utf-8")


def test_fixture_is_the_published_file() -> None:
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == PUBLISHED_SHA256


def reference_render(
    messages: list[Message],
    tools: list[Tool],
    thinking: bool | None = None,
    add_generation_prompt: bool = True,
    clear_thinking: bool | None = None,
) -> str:
    kwargs = {} if thinking is None else {"enable_thinking": thinking}
    if clear_thinking is not None:
        kwargs["clear_thinking"] = clear_thinking
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
@pytest.mark.parametrize("clear_thinking", [None, False])
def test_renderer_equals_published_template(
    name: str, messages: list[Message], tools: list[Tool], thinking: bool | None, clear_thinking: bool | None
) -> None:
    kwargs = {} if thinking is None else {"thinking": thinking}
    if clear_thinking is not None:
        kwargs["clear_thinking"] = clear_thinking
    ours = glm47.render_prompt(messages, tools, **kwargs)
    assert ours == reference_render(messages, tools, thinking, clear_thinking=clear_thinking)


def test_without_generation_prompt() -> None:
    ours = glm47.render_prompt(PARALLEL, ALL, add_generation_prompt=False)
    assert ours == reference_render(PARALLEL, ALL, add_generation_prompt=False)


def test_compact_step_and_open_reasoning() -> None:
    prompt = glm47.render_prompt(PARALLEL, [WEATHER])
    step = (
        "<|assistant|><think>Two cities, two calls.</think>I'll look both up."
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>"
        "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>北京</arg_value>"
        "<arg_key>days</arg_key><arg_value>1</arg_value></tool_call>"
        "<|observation|><tool_response>Paris: 21</tool_response><tool_response>北京: 25</tool_response>"
        "<|assistant|><think>Both answered.</think>Paris 21, 北京 25.<|assistant|><think>"
    )
    assert prompt.endswith(step)
    assert "<|user|>Weather in Paris" in prompt


def test_thinking_off_and_past_reasoning() -> None:
    later = [*PARALLEL, Message("user", "Thanks")]
    cleared = glm47.render_prompt(later, [], thinking=False)
    assert cleared.endswith("<|user|>Thanks<|assistant|></think>") and "/nothink" not in cleared
    assert "Two cities" not in cleared and cleared.count("<|assistant|></think>") == 3
    kept = glm47.render_prompt(later, [], clear_thinking=False)
    assert "<think>Two cities, two calls.</think>" in kept and "<think>Both answered.</think>" in kept


def parse(output: str, chunk: int, reasoning_open: bool) -> tuple[str, str, list[tuple[str, str]]]:
    parser = OutputParser(ALL, reasoning_open=reasoning_open)
    pieces = [output[i : i + chunk] for i in range(0, len(output), chunk)]
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, text, [(e.name, e.text) for e in events if isinstance(e, ToolCall)]


# Output after a prompt ending in `<think>` (thinking on): reasoning first, no opening tag.
OPEN_OUTPUTS = {
    "reasoning then answer": ("The user greets.</think>Hello!", ("The user greets.", "Hello!", [])),
    "empty reasoning": ("</think>Just this.", ("", "Just this.", [])),
    "a repeated <think> is skipped": ("<think>hm</think>ok", ("hm", "ok", [])),
    "truncated inside the reasoning": ("Let me thi", ("Let me thi", "", [])),
    "a call right after the reasoning": (
        "Weather.</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>北京</arg_value>"
        "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call><tool_call>now</tool_call>",
        ("Weather.", "", [("get_weather", '{"city": "北京", "days": 2}'), ("now", "{}")]),
    ),
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize(("name", "case"), OPEN_OUTPUTS.items(), ids=list(OPEN_OUTPUTS))
def test_parser_with_the_reasoning_open(name: str, case: tuple, chunk: int) -> None:
    output, expected = case
    assert parse(output, chunk, reasoning_open=True) == expected


def test_parser_with_thinking_off_reads_the_answer() -> None:
    assert parse("Plain answer.", 4, reasoning_open=False) == ("", "Plain answer.", [])


class _Scripted:
    """A text source that records the prompt and replies with a fixed output."""

    def __init__(self, output: str) -> None:
        self.output, self.prompts = output, []

    def stream_text(self, prompt, params, cancel):
        self.prompts.append(prompt)
        yield self.output
        return "stop"


def test_backend_parses_what_the_prompt_opened() -> None:
    source = _Scripted("Sunny, so yes.</think>Take sunglasses.")
    backend = PromptBackend(source, 8192, len, protocol=GLM47)
    params = GenerationParams(max_new_tokens=32)
    events = list(backend.stream([Message("user", "Sunglasses?")], [], params, threading.Event()))
    assert source.prompts == ["[gMASK]<sop><|user|>Sunglasses?<|assistant|><think>"]
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Sunny, so yes."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Take sunglasses."
    assert isinstance(events[-1], Done)
    quiet = GenerationParams(max_new_tokens=32, thinking=False)
    off = list(backend.stream([Message("user", "Hi")], [], quiet, threading.Event()))
    assert source.prompts[-1].endswith("<|assistant|></think>")
    assert (
        "".join(e.text for e in off if isinstance(e, TextDelta)) == "Sunny, so yes.</think>Take sunglasses."
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"model_type": "glm4_moe", "chat_template": REFERENCE}, "glm47"),
        ({"model_type": "glm4_moe", "model_name": "zai-org/GLM-4.7-FP8"}, "glm47"),
        ({"model_type": "glm4_moe", "model_name": "zai-org/GLM-4.6"}, "glm45"),
        ({"model_type": "glm4_moe_lite"}, "glm47"),
        ({"chat_template": REFERENCE}, "glm47"),
        ({"model_name": "glm-4.7"}, "glm47"),
        ({"model_name": "GLM-4.5V"}, "glm45"),
    ],
)
def test_detected_from_template_type_or_name(facts: dict, expected: str) -> None:
    assert detect_protocol(**facts) == expected
