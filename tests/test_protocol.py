"""Our renderer must produce exactly what the published GLM-4 chat template produces."""

from pathlib import Path

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from models.messages import Message
from models.protocols.glm4 import render_prompt, template_messages
from tests.conversations import CONVERSATIONS, PYTHON, WEATHER

# tests/fixtures/glm-4-9b-chat.chat_template.jinja: the chat_template published with THUDM/glm-4-9b-chat.
REFERENCE = (Path(__file__).parent / "fixtures" / "glm-4-9b-chat.chat_template.jinja").read_text(
    encoding="utf-8"
)


def reference_render(messages: list[Message], tools: list[dict], add_generation_prompt: bool = True) -> str:
    rendered, _ = render_jinja_template(
        [template_messages(messages, tools)],
        chat_template=REFERENCE,
        add_generation_prompt=add_generation_prompt,
    )
    return rendered[0]


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_renderer_equals_published_template(name: str, messages: list[Message], tools: list[dict]) -> None:
    assert render_prompt(messages, tools) == reference_render(messages, tools)


def test_renderer_without_generation_prompt() -> None:
    messages = [Message("user", "Hi"), Message("assistant", "Hello")]
    assert render_prompt(messages, [PYTHON], add_generation_prompt=False) == reference_render(
        messages, [PYTHON], add_generation_prompt=False
    )


def test_tool_call_shape_in_prompt() -> None:
    prompt = render_prompt(
        [
            Message("user", "Weather?"),
            Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
            Message("observation", "21"),
        ],
        [WEATHER],
    )
    assert prompt.startswith("[gMASK]<sop><|system|>\n你是一个名为 ChatGLM 的人工智能助手")
    assert '<|assistant|>get_weather\n{"city": "Paris"}<|observation|>\n21<|assistant|>' in prompt
    assert '"description": "Current weather for a city, 北京 included."' in prompt
    assert prompt.count("在调用上述函数时，请使用 Json 格式表示调用的参数。") == 1
