"""The GLM prompt formats, one module per generation, and how to tell which one a model speaks.

- `glm4`: GLM-4-9B-Chat and GLM-4-0414 (a metadata line names the tool; built-in tool texts).
- `glm45`: GLM-4.5 and 4.6 (`<think>` reasoning, XML `<tool_call>` blocks, `<tool_response>`).
- `glm47`: GLM-4.7 (GLM-4.5's tags without the newlines; the generation prompt opens `<think>`).

`GLM_PROTOCOL` forces one; otherwise `detect_protocol` reads what is known of the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.events import ModelEvent
from models.messages import Message
from models.protocols import glm4, glm45, glm47
from models.protocols.base import TextStream
from models.settings import env_choice

if TYPE_CHECKING:
    from models.backends.base import ToolDeclaration

PROTOCOLS = ("glm4", "glm45", "glm47")


@dataclass(frozen=True)
class ChatProtocol:
    """One generation's prompt format, as the backends that render and parse themselves use it.

    `render(messages, tools, thinking)` gives the prompt; `parse(chunks, tools, prompt)` turns the
    raw output that continues `prompt` into events; `output_tags` are the special tokens the model
    writes that the parser must see.
    """

    name: str
    render: Callable[[Sequence[Message], Sequence[ToolDeclaration], bool], str]
    parse: Callable[[TextStream, Sequence[ToolDeclaration], str], Iterator[ModelEvent]]
    output_tags: tuple[str, ...] = ()


GLM4 = ChatProtocol("glm4", glm4.render, glm4.parse_stream)
GLM45 = ChatProtocol("glm45", glm45.render_prompt, glm45.parse_stream, glm45.OUTPUT_TAGS)
GLM47 = ChatProtocol("glm47", glm47.render_prompt, glm45.parse_stream, glm47.OUTPUT_TAGS)
_BY_NAME = {p.name: p for p in (GLM4, GLM45, GLM47)}
XML_FAMILY = ("glm45", "glm47")
"""The GLM-4.5+ formats: `<think>` reasoning, XML tool calls, tools declared as functions."""


def get_protocol(name: str | None) -> ChatProtocol:
    """The protocol named `name`; GLM-4's when unknown (the format of models that ship no template)."""
    return _BY_NAME.get(name or "", GLM4)


MODEL_TYPES = {
    "chatglm": "glm4",  # THUDM/glm-4-9b-chat (remote code)
    "glm": "glm4",  # glm-4-9b-chat-hf
    "glm4": "glm4",  # GLM-4-0414
    "glm4_moe": "glm45",  # GLM-4.5, 4.6, 4.7 (the template or the name tells 4.7 apart)
    "glm4_moe_lite": "glm47",  # GLM-4.7-Flash
    "glm4v_moe": "glm45",  # GLM-4.5V, 4.6V
}
_GLM47_NAME = re.compile(r"glm-?4\.[7-9]")
_GLM45_NAME = re.compile(r"glm-?4\.[5-9]")
# GLM-4.7's tools footer shows a call without the newline GLM-4.5/4.6 put after the name.
_GLM47_FOOTER = "<tool_call>{function-name}<arg_key>"
_GLM4_NAME = re.compile(r"(?:chat)?glm-?4(?![.\dv])")
_VISION_NAME = re.compile(r"glm-?4(?:\.\d+)?v")


def forced_protocol() -> str | None:
    """`GLM_PROTOCOL` when set (glm4, glm45 or glm47), else None."""
    return env_choice("GLM_PROTOCOL", PROTOCOLS) or None


def detect_protocol(
    model_type: str | None = None, chat_template: str | None = None, model_name: str | None = None
) -> str | None:
    """ "glm4", "glm45", "glm47", or None when nothing known names a format the app speaks.

    `GLM_PROTOCOL` wins; then the config's `model_type`, the checkpoint's chat template (GLM-4.5+
    templates declare `<tool_call>`/`<arg_key>`, GLM-4.7's without a newline after the name; GLM-4's
    list tools under `# 可用工具`), and last the served model name (`glm-4.6`, `GLM-4.5-Air` → glm45;
    `zai-org/GLM-4.7` → glm47; `glm-4-9b-chat`, `GLM-4-32B-0414` → glm4; GLM-4.5V/4.6V speak GLM-4.5's
    format; `glm-4v-9b` and `GLM-4.1V` → None). GLM-4.5, 4.6 and 4.7 share a `model_type`: for it the
    template, else the name, tells 4.7 apart.
    """
    if forced := forced_protocol():
        return forced
    by_type = MODEL_TYPES.get(model_type.strip().lower()) if model_type else None
    by_template = _protocol_of_template(chat_template) if chat_template else None
    by_name = _protocol_of_name(model_name) if model_name else None
    if by_type == "glm45" and "glm47" in (by_template, by_name if by_template is None else None):
        return "glm47"
    return by_type or by_template or by_name


def _protocol_of_template(template: str) -> str | None:
    if _GLM47_FOOTER in template:
        return "glm47"
    if "<tool_call>" in template or "<arg_key>" in template:
        return "glm45"
    if "可用工具" in template or ("[gMASK]" in template and "<|observation|>" in template):
        return "glm4"
    return None


def _protocol_of_name(name: str) -> str | None:
    base = name.strip().rstrip("/").rsplit("/", 1)[-1].lower().replace("_", "-")
    if _VISION_NAME.search(base):
        return "glm45" if _GLM45_NAME.search(base) else None
    if _GLM47_NAME.search(base):
        return "glm47"
    if _GLM45_NAME.search(base):
        return "glm45"
    if _GLM4_NAME.search(base):
        return "glm4"
    return None
