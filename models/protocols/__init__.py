"""The GLM prompt formats, one module per generation, and how to tell which one a model speaks.

- `glm4`: GLM-4-9B-Chat and GLM-4-0414 (a metadata line names the tool; built-in tool texts).
- `glm45`: GLM-4.5, 4.6 and 4.7 (`<think>` reasoning, XML `<tool_call>` blocks, `<tool_response>`).

`GLM_PROTOCOL` forces one; otherwise `detect_protocol` reads what is known of the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.events import ModelEvent
from models.messages import Message
from models.protocols import glm4, glm45
from models.protocols.base import TextStream
from models.settings import env_choice

if TYPE_CHECKING:
    from models.backends.base import ToolDeclaration

PROTOCOLS = ("glm4", "glm45")


@dataclass(frozen=True)
class ChatProtocol:
    """One generation's prompt format, as the backends that render and parse themselves use it.

    `render(messages, tools, thinking)` gives the prompt; `parse(chunks, tools)` turns raw output
    into events; `output_tags` are the special tokens the model writes that the parser must see.
    """

    name: str
    render: Callable[[Sequence[Message], Sequence[ToolDeclaration], bool], str]
    parse: Callable[[TextStream, Sequence[ToolDeclaration]], Iterator[ModelEvent]]
    output_tags: tuple[str, ...] = ()


GLM4 = ChatProtocol("glm4", glm4.render, glm4.parse_stream)
GLM45 = ChatProtocol("glm45", glm45.render_prompt, glm45.parse_stream, glm45.OUTPUT_TAGS)
_BY_NAME = {p.name: p for p in (GLM4, GLM45)}


def get_protocol(name: str | None) -> ChatProtocol:
    """The protocol named `name`; GLM-4's when unknown (the format of models that ship no template)."""
    return _BY_NAME.get(name or "", GLM4)


MODEL_TYPES = {
    "chatglm": "glm4",  # THUDM/glm-4-9b-chat (remote code)
    "glm": "glm4",  # glm-4-9b-chat-hf
    "glm4": "glm4",  # GLM-4-0414
    "glm4_moe": "glm45",  # GLM-4.5, 4.6, 4.7
    "glm4v_moe": "glm45",  # GLM-4.5V, 4.6V
}
_GLM45_NAME = re.compile(r"glm-?4\.[5-9]")
_GLM4_NAME = re.compile(r"(?:chat)?glm-?4(?![.\dv])")
_VISION_NAME = re.compile(r"glm-?4(?:\.\d+)?v")


def forced_protocol() -> str | None:
    """`GLM_PROTOCOL` when set (glm4 or glm45), else None."""
    return env_choice("GLM_PROTOCOL", PROTOCOLS) or None


def detect_protocol(
    model_type: str | None = None, chat_template: str | None = None, model_name: str | None = None
) -> str | None:
    """ "glm4", "glm45", or None when nothing known names a format the app speaks.

    `GLM_PROTOCOL` wins; then the config's `model_type`, the checkpoint's chat template (GLM-4.5+
    templates declare `<tool_call>`/`<arg_key>`; GLM-4's list tools under `# 可用工具`), and last the
    served model name (`glm-4.6`, `GLM-4.5-Air`, `zai-org/GLM-4.7` → glm45; `glm-4-9b-chat`,
    `GLM-4-32B-0414` → glm4; GLM-4.5V/4.6V speak GLM-4.5's format; `glm-4v-9b` and `GLM-4.1V` → None).
    """
    if forced := forced_protocol():
        return forced
    if model_type and (found := MODEL_TYPES.get(model_type.strip().lower())):
        return found
    if chat_template and (found := _protocol_of_template(chat_template)):
        return found
    if model_name:
        return _protocol_of_name(model_name)
    return None


def _protocol_of_template(template: str) -> str | None:
    if "<tool_call>" in template or "<arg_key>" in template:
        return "glm45"
    if "可用工具" in template or ("[gMASK]" in template and "<|observation|>" in template):
        return "glm4"
    return None


def _protocol_of_name(name: str) -> str | None:
    base = name.strip().rstrip("/").rsplit("/", 1)[-1].lower().replace("_", "-")
    if _GLM45_NAME.search(base):
        return "glm45"
    if _GLM4_NAME.search(base) and not _VISION_NAME.search(base):
        return "glm4"
    return None
