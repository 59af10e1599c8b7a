"""The GLM-4.7 chat format: GLM-4.5's tags and tool declarations, written without the newlines.

The renderer's output equals the `chat_template` published with zai-org/GLM-4.7 (and GLM-4.7-Flash) as
transformers renders it (tested against it). What differs from GLM-4.5/4.6 (`glm45`):

- no newline after a role token (`<|user|>Hi`, `<|system|>…`), none inside a call
  (`<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>`) and none around a
  `<tool_response>`; the tools footer shows that compact call form;
- an earlier turn's assistant message starts with a bare `</think>`, the current turn's with
  `<think>{reasoning}</think>` (or the bare `</think>` when it has none);
- the generation prompt opens the reasoning itself (`<|assistant|><think>`), so the model's output
  starts inside it; with thinking off it is `<|assistant|></think>` (no `/nothink` in the user turn);
- `clear_thinking=False` (the template's preserved-thinking switch) keeps every turn's reasoning.

Messages and tools map to the template's items as for GLM-4.5 (`glm45.template_messages`); the
output parser is GLM-4.5's, told that the reasoning is already open.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from models.messages import Message
from models.protocols import glm45
from models.protocols.base import GENERATION_PROMPT, PROMPT_PREFIX

if TYPE_CHECKING:
    from models.backends.base import ToolDeclaration

TOOLS_HEADER = glm45.TOOLS_HEADER
TOOLS_FOOTER = (
    "</tools>\n\nFor each function call, output the function name and arguments within the following "
    "XML format:\n<tool_call>{function-name}<arg_key>{arg-key-1}</arg_key><arg_value>{arg-value-1}"
    "</arg_value><arg_key>{arg-key-2}</arg_key><arg_value>{arg-value-2}</arg_value>...</tool_call>"
)
OUTPUT_TAGS = glm45.OUTPUT_TAGS


def render_items(
    items: Sequence[dict[str, Any]],
    entries: Sequence[dict[str, Any]] = (),
    thinking: bool = True,
    add_generation_prompt: bool = True,
    clear_thinking: bool = True,
) -> str:
    """The template's output for `items` (from `glm45.template_messages`) and tool `entries`."""
    parts = [PROMPT_PREFIX]
    if entries:
        parts.append(TOOLS_HEADER)
        parts.extend(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        parts.append(TOOLS_FOOTER)
    last_user = max((i for i, item in enumerate(items) if item["role"] == "user"), default=-1)
    for i, item in enumerate(items):
        role, content = item["role"], item["content"]
        if role == "user":
            parts.append(f"<|user|>{content}")
        elif role == "assistant":
            parts.append(_render_assistant(item, keep_reasoning=not clear_thinking or i > last_user))
        elif role == "tool":
            if i == 0 or items[i - 1]["role"] != "tool":
                parts.append("<|observation|>")
            parts.append(f"<tool_response>{content}</tool_response>")
        elif role == "system":
            parts.append(f"<|system|>{content}")
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT + (glm45.THINK_OPEN if thinking else glm45.THINK_CLOSE))
    return "".join(parts)


def _render_assistant(item: dict[str, Any], keep_reasoning: bool) -> str:
    reasoning = item.get("reasoning_content") or ""
    parts = ["<|assistant|>"]
    if keep_reasoning and reasoning:
        parts.append(f"<think>{reasoning.strip()}</think>")
    else:
        parts.append("</think>")
    parts.append(item["content"].strip())
    parts += [glm45.tool_call_text(call["function"], "") for call in item.get("tool_calls") or ()]
    return "".join(parts)


def render_prompt(
    messages: Sequence[Message],
    tools: Sequence[ToolDeclaration] = (),
    thinking: bool = True,
    add_generation_prompt: bool = True,
    clear_thinking: bool = True,
) -> str:
    """The prompt text for `messages`; `thinking=False` is the template's `enable_thinking=False`."""
    items = glm45.template_messages(messages, tools)
    return render_items(items, glm45.tool_entries(tools), thinking, add_generation_prompt, clear_thinking)
