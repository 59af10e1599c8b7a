"""The GLM-4 chat format (GLM-4-9B-Chat, GLM-4-0414): the prompt renderer and the output parser.

The renderer's output equals the `chat_template` published with THUDM/glm-4-9b-chat as transformers
renders it (tested against it). Its Jinja environment trims the newline after a block tag, so each
tool's header is `\n## name`, not the `\n\n## name` the template's source suggests.

The parser is fed what the model writes after `<|assistant|>`. The first line is metadata: empty for
an answer, a tool name for a tool call (the call follows on the next lines). It takes chunks in any
split and does O(1) work per character: it keeps only the undecided first line and a short tail that
might be the start of a stop string.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.events import Done, ModelEvent, TextDelta, ToolCall, ToolCallDelta
from models.messages import Message
from models.protocols.base import (
    GENERATION_PROMPT,
    PROMPT_PREFIX,
    StopScanner,
    TextStream,
    finish_and_usage,
    keep_return,
    new_call_id,
    normalize_call,
)

if TYPE_CHECKING:
    from models.backends.base import ToolDeclaration

TOOLS_PREAMBLE = "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。"

FUNCTION_CALL_HINT = "在调用上述函数时，请使用 Json 格式表示调用的参数。"

BUILTIN_TOOL_TEXT = {
    "python": (
        "当你向 `python` 发送包含 Python 代码的消息时，该代码将会在一个有状态的 Jupyter notebook 环境中执行。\n"
        "`python` 返回代码执行的输出，或在执行 60 秒后返回超时。\n"
        "`/mnt/data` 将会持久化存储你的文件。在此会话中，`python` 无法访问互联网。不要使用 `python` 进行任何网络请求或者在线 API 调用，这些在线内容的访问将不会成功。"
    ),
    "simple_browser": (
        "你可以使用 `simple_browser` 工具。该工具支持以下函数：\n"
        "`search(query: str, recency_days: int)`：使用搜索引擎进行查询并显示结果，可以使用 `recency_days` 参数控制搜索内容的时效性。\n"
        "`mclick(ids: list[int])`：获取一系列指定 id 的页面内容。每次调用时，须选择3-10个页面。选择多个角度的页面，同时尽可能选择可信任的信息来源。考虑到部分页面是无法加载的，你也可以多打开一些可能有用的页面而不用担心内容过多。\n"
        "`open_url(url: str)`：打开指定的 URL。\n"
        "\n"
        "使用 `【{引用 id}†{引用文本}】` 来引用内容。\n"
        "\n"
        "操作步骤：1. 使用 `search` 来获得信息列表; 2. 使用 `mclick` 来获取指定 ID 页面的内容; 3. 根据获得的内容进行回复。在回复中应当引用信息来源。\n"
        " 如果用户提供了 URL，也可以用 `open_url` 直接打开页面。\n"
        "如果初次搜索结果没有找到合适的信息，也可以再次使用 `search` 进行搜索。"
    ),
    "cogview": (
        "如果用户的请求中包含了对图像的描述，你可以使用 `cogview` 来生成图像并展示给用户。你需要向 `cogview` 发送图像描述，规则：\n"
        "- 发送给 `cogview` 的消息必须使用英语。用户的中文描述必须完全翻译为英语。\n"
        "- 应当尽可能详细地描述图像生成的需求，需求描述约 100 英文单词。\n"
        "- 保持用户原始描述的意图。不要虚构内容或者没见过的人物。\n"
        "- 如无特殊说明，所在地为中国，持有中国立场并遵循中国社会主义价值观。"
    ),
}


def render_tools(tools: Sequence[dict[str, Any]]) -> str:
    """The system turn that declares `tools` (entries as in the template: `{"type": "function", ...}`)."""
    parts = ["<|system|>\n", TOOLS_PREAMBLE, "\n\n# 可用工具"]
    for tool in tools:
        kind = tool["type"]
        if kind == "function":
            function = tool["function"]
            parts.append(f"\n## {function['name']}\n\n")
            parts.append(json.dumps(function, ensure_ascii=False, indent=4))
            parts.append("\n" + FUNCTION_CALL_HINT)
        elif kind in BUILTIN_TOOL_TEXT:
            parts.append(f"\n## {kind}\n\n{BUILTIN_TOOL_TEXT[kind]}")
    return "".join(parts)


def render_message(message: Message) -> str:
    if not message.content:
        return ""
    return f"<|{message.role}|>{message.metadata}\n{message.content}"


def render_prompt(
    messages: Sequence[Message],
    tools: Sequence[dict[str, Any]] = (),
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text for `messages`, with `tools` declared in a leading system turn."""
    parts = [PROMPT_PREFIX]
    if tools:
        parts.append(render_tools(tools))
    parts.extend(render_message(m) for m in messages)
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT)
    return "".join(parts)


def render(messages: Sequence[Message], tools: Sequence[ToolDeclaration], thinking: bool = True) -> str:
    """The prompt for `messages` with `tools` (their GLM-4 template entries); GLM-4 has no thinking switch."""
    return render_prompt(messages, [t.template_entry for t in tools])


def template_messages(
    messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The conversation as dicts for a checkpoint's own `chat_template`; tools ride on a leading item."""
    items: list[dict[str, Any]] = []
    if tools:
        items.append({"role": "system", "content": "", "metadata": "", "tools": list(tools)})
    items.extend({"role": m.role, "content": m.content, "metadata": m.metadata} for m in messages)
    return items


MAX_TOOL_NAME = 64
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.\r")


@dataclass(frozen=True)
class ParsedOutput:
    """The whole output, decided: an answer (`tool` empty) or a call to `tool` with `text`."""

    tool: str
    text: str
    stopped_at_token: bool

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool)


class OutputParser:
    """Feed chunks with `feed`, get events as soon as they are certain; call `finish` at the end."""

    def __init__(self) -> None:
        self._stops = StopScanner()
        self._head: list[str] = []
        self._head_len = 0
        self._decided = False
        self._tool = ""
        self._body: list[str] = []

    def feed(self, chunk: str) -> TextDelta | ToolCallDelta | None:
        """The event this chunk makes certain, if any (a chunk never makes more than one)."""
        stops = self._stops
        if self._decided and not stops._tail and not stops.stopped and "<" not in chunk:
            self._body.append(chunk)
            return ToolCallDelta(self._tool, chunk) if self._tool else TextDelta(chunk)
        return self._consume(stops.feed(chunk))

    def finish(self) -> tuple[list[TextDelta | ToolCallDelta], ParsedOutput]:
        """Flush what is held back and return the final events and the decided output."""
        last = self._consume(self._stops.flush())
        events = [last] if last is not None else []
        if not self._decided:
            head = "".join(self._head)
            events.extend(self._decide_unterminated(head))
        body = "".join(self._body)
        text = normalize_call(self._tool, body) if self._tool else body
        return events, ParsedOutput(self._tool, text, self._stops.stopped)

    def _consume(self, text: str) -> TextDelta | ToolCallDelta | None:
        if text and not self._decided:
            text = self._read_head(text)
        if not text:
            return None
        self._body.append(text)
        return ToolCallDelta(self._tool, text) if self._tool else TextDelta(text)

    def _read_head(self, text: str) -> str:
        """Grow the first line; decide as soon as it ends or can no longer be a tool name.

        Returns the text that follows the decision ("" while undecided).
        """
        for i, char in enumerate(text):
            if char == "\n":
                self._decided = True
                self._tool = ("".join(self._head) + text[:i]).strip()
                self._head.clear()
                return text[i + 1 :]
            if char not in _NAME_CHARS or self._head_len + i >= MAX_TOOL_NAME:
                self._decided = True
                return "".join(self._head) + text
        self._head.append(text)
        self._head_len += len(text)
        return ""

    def _decide_unterminated(self, head: str) -> list[TextDelta | ToolCallDelta]:
        """Output that ended inside its first line: a bare word is an answer, not a call."""
        self._decided = True
        if not head:
            return []
        self._body.append(head)
        return [TextDelta(head)]


def parse_stream(
    chunks: TextStream, tools: Sequence[ToolDeclaration] = (), prompt: str = ""
) -> Iterator[ModelEvent]:
    """Raw model text in, protocol events out: deltas, at most one `ToolCall`, then `Done`. (The
    prompt changes nothing here: GLM-4's output always starts with its metadata line.)"""
    parser = OutputParser()
    feed = parser.feed
    ending: list[object] = []
    for chunk in keep_return(chunks, ending):
        event = feed(chunk)
        if event is not None:
            yield event
    finish, usage = finish_and_usage(ending)
    events, output = parser.finish()
    yield from events
    if output.is_tool_call:
        yield ToolCall(output.tool, output.text, new_call_id())
        if finish == "stop":
            finish = "tool_call"
    yield Done(finish, usage)
