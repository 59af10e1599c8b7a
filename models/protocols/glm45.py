"""The GLM-4.5 / 4.6 chat format (GLM-4.7 renders it without the newlines: `glm47`): the prompt renderer
and the incremental output parser (shared by both).

The renderer's output equals the `chat_template` published with zai-org/GLM-4.6 as transformers
renders it (tested against it). Tools are declared as functions (`python` with one `code` string,
`simple_browser` with one `command` string holding one `search(...)`, `mclick([...])` or
`open_url(...)` call, `cogview` with one `prompt`, and the user's functions with their schemas).

In our message model one model step is an assistant message (answer text, `reasoning`) followed by
its calls (assistant messages whose `metadata` is the tool name and whose content is the call in the
tools' text form) and then their observations in the same order. The template gets that step as one
assistant turn with `tool_calls`, and the observations as consecutive `tool` messages, which it
puts under one `<|observation|>` as `<tool_response>` blocks.

The model writes `<think>…</think>` (reasoning), the answer, then zero or more
`<tool_call>{name}\\n<arg_key>k</arg_key>\\n<arg_value>v</arg_value>…</tool_call>` blocks (GLM-4.7 may
put the first `<arg_key>` right after the name, and a call may have no arguments). The parser takes
chunks in any split, holds back only what may begin a tag, and looks at each character a bounded
number of times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from models.events import Done, ModelEvent, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
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

TOOLS_HEADER = (
    "<|system|>\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
TOOLS_FOOTER = (
    "</tools>\n\nFor each function call, output the function name and arguments within the following "
    "XML format:\n<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>\n<arg_value>{arg-value-1}"
    "</arg_value>\n<arg_key>{arg-key-2}</arg_key>\n<arg_value>{arg-value-2}</arg_value>\n...\n</tool_call>"
)
NO_THINK = "/nothink"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
OUTPUT_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>")
OUTPUT_TAGS += ("<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")
_ARGUMENT = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)


def tool_entries(tools: Sequence[ToolDeclaration]) -> list[dict[str, Any]]:
    """Every tool as a function, as the template's `tools` list wants it."""
    return [{"type": "function", "function": t.function_schema} for t in tools]


def call_arguments(tool: ToolDeclaration | None, text: str) -> dict[str, Any]:
    """A call's arguments from its text form (what tools run), for the `<arg_key>` pairs."""
    try:
        arguments = tool.arguments_from_text(text) if tool else json.loads(text)
    except (ValueError, KeyError, TypeError):
        arguments = None
    return arguments if isinstance(arguments, dict) else {"input": text}


def template_messages(
    messages: Sequence[Message], tools: Sequence[ToolDeclaration] = ()
) -> list[dict[str, Any]]:
    """The conversation as the GLM-4.5 template's messages: a step's text, reasoning and calls become
    one assistant item with `tool_calls`; observations become `tool` items. Empty messages (a failed
    turn's error) are left out."""
    by_name = {t.name: t for t in tools}
    items: list[dict[str, Any]] = []
    step: dict[str, Any] | None = None
    for m in messages:
        if m.is_tool_call:
            call = {"name": m.metadata, "arguments": call_arguments(by_name.get(m.metadata), m.content)}
            if step is None:
                step = {"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": []}
                items.append(step)
            step.setdefault("tool_calls", []).append({"type": "function", "function": call})
            continue
        step = None
        if m.role == "assistant":
            if not (m.content or m.reasoning):
                continue
            step = {"role": "assistant", "content": m.content, "reasoning_content": m.reasoning}
            items.append(step)
        elif m.role == "observation":
            items.append({"role": "tool", "content": m.content})
        else:
            items.append({"role": m.role, "content": m.content})
    return items


def render_items(
    items: Sequence[dict[str, Any]],
    entries: Sequence[dict[str, Any]] = (),
    thinking: bool = True,
    add_generation_prompt: bool = True,
) -> str:
    """The template's output for `items` (from `template_messages`) and tool `entries`."""
    parts = [PROMPT_PREFIX]
    if entries:
        parts.append(TOOLS_HEADER)
        parts.extend(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        parts.append(TOOLS_FOOTER)
    last_user = max((i for i, item in enumerate(items) if item["role"] == "user"), default=-1)
    for i, item in enumerate(items):
        role, content = item["role"], item["content"]
        if role == "user":
            nothink = NO_THINK if not thinking and not content.endswith(NO_THINK) else ""
            parts.append(f"<|user|>\n{content}{nothink}")
        elif role == "assistant":
            parts.append(_render_assistant(item, keep_reasoning=i > last_user))
        elif role == "tool":
            if i == 0 or items[i - 1]["role"] != "tool":
                parts.append("<|observation|>")
            parts.append(f"\n<tool_response>\n{content}\n</tool_response>")
        elif role == "system":
            parts.append(f"<|system|>\n{content}")
    if add_generation_prompt:
        parts.append(GENERATION_PROMPT if thinking else GENERATION_PROMPT + "\n<think></think>")
    return "".join(parts)


def _render_assistant(item: dict[str, Any], keep_reasoning: bool) -> str:
    reasoning = item.get("reasoning_content") or ""
    parts = ["<|assistant|>"]
    kept = reasoning.strip() if keep_reasoning else ""
    parts.append(f"\n<think>{kept}</think>")
    if content := item["content"].strip():
        parts.append("\n" + content)
    parts += [tool_call_text(call["function"], "\n") for call in item.get("tool_calls") or ()]
    return "".join(parts)


def tool_call_text(function: dict[str, Any], nl: str) -> str:
    """One call as the template writes it; `nl` is the break 4.5/4.6 put between its parts (4.7: none)."""
    parts = [f"{nl}<tool_call>{function['name']}{nl}"]
    for key, value in (function["arguments"] or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"<arg_key>{key}</arg_key>{nl}<arg_value>{shown}</arg_value>{nl}")
    parts.append("</tool_call>")
    return "".join(parts)


def render_prompt(
    messages: Sequence[Message],
    tools: Sequence[ToolDeclaration] = (),
    thinking: bool = True,
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text for `messages`; `thinking=False` is the template's `enable_thinking=False`."""
    items = template_messages(messages, tools)
    return render_items(items, tool_entries(tools), thinking, add_generation_prompt)


Event = TextDelta | ReasoningDelta | ToolCallDelta | ToolCall

_START, _THINK, _ANSWER, _CALL = range(4)
MAX_NAME = 128


class OutputParser:
    """Feed chunks with `feed`; each returns the events it made certain. `finish` flushes the rest.

    `tools` gives the declared parameter types: a value of a `string` parameter stays raw text,
    others are read as JSON (raw text when that fails). Calls come out in the tools' text form, with
    ids from `new_id`. `reasoning_open`: the prompt itself ended in `<think>` (GLM-4.7's generation
    prompt), so the output starts inside the reasoning (a repeated `<think>` is skipped).
    """

    def __init__(
        self,
        tools: Sequence[ToolDeclaration] = (),
        new_id: Callable[[], str] = str,
        reasoning_open: bool = False,
    ) -> None:
        self._tools: Mapping[str, ToolDeclaration] = {t.name: t for t in tools}
        self._new_id = new_id
        self._stops = StopScanner()
        self._state = _START
        self._after_start = _THINK if reasoning_open else _ANSWER
        self._held = ""
        self._lead = True
        self._space = ""
        self._call: list[str] = []
        self._name: str | None = None
        self._name_buf = ""
        self.calls = 0

    @property
    def stopped_at_token(self) -> bool:
        return self._stops.stopped

    def feed(self, chunk: str) -> list[Event]:
        stops = self._stops
        if "<" not in chunk and not self._held and not stops._tail and not stops.stopped:
            if self._state == _THINK:  # the hot path: plain text inside a block
                return [ReasoningDelta(chunk)] if chunk else []
            if self._state == _ANSWER and not self._lead:
                body = chunk.rstrip()
                if not body:
                    self._space += chunk
                    return []
                text, self._space = self._space + body, chunk[len(body) :]
                return [TextDelta(text)]
        events: list[Event] = []
        self._scan(stops.feed(chunk), events)
        return events

    def finish(self) -> list[Event]:
        events: list[Event] = []
        self._scan(self._stops.flush(), events)
        held, self._held = self._held, ""
        if self._state == _START:
            self._state = self._after_start
        if self._state == _CALL:
            self._call.append(held)
            self._end_call(events)
        elif self._state == _THINK:
            if held:
                events.append(ReasoningDelta(held))
        else:
            self._answer(held, events)
        return events

    def _scan(self, text: str, events: list[Event]) -> None:
        if self._held:
            text, self._held = self._held + text, ""
        rest: str | None = text
        while rest:
            text = rest
            if self._state == _START:
                text = text.lstrip()
                if text.startswith(THINK_OPEN):
                    self._state, rest = _THINK, text[len(THINK_OPEN) :]
                elif THINK_OPEN.startswith(text):
                    self._held = text
                    return
                else:
                    self._state, rest = self._after_start, text
            elif self._state == _THINK:
                rest = self._until(text, THINK_CLOSE, events)
                if rest is not None:
                    self._state, self._lead = _ANSWER, True
            elif self._state == _ANSWER:
                rest = self._until(text, CALL_OPEN, events)
                if rest is not None:
                    self._state, self._space = _CALL, ""
            else:
                rest = self._until(text, CALL_CLOSE, events)
                if rest is not None:
                    self._end_call(events)
                    self._state, self._lead = _ANSWER, True

    def _until(self, text: str, tag: str, events: list[Event]) -> str | None:
        """Pass `text` on up to `tag` and return what follows it; None while the tag hasn't come
        (then a suffix that may begin it is held back)."""
        at = text.find(tag)
        if at >= 0:
            self._pass(text[:at], events)
            return text[at + len(tag) :]
        keep = _partial_tag(text, tag)
        if keep:
            self._held = text[-keep:]
            text = text[:-keep]
        self._pass(text, events)
        return None

    def _pass(self, text: str, events: list[Event]) -> None:
        if not text:
            return
        if self._state == _ANSWER:
            self._answer(text, events)
        elif self._state == _THINK:
            events.append(ReasoningDelta(text))
        else:
            self._call.append(text)
            self._call_delta(text, events)

    def _answer(self, text: str, events: list[Event]) -> None:
        """Answer text, without the whitespace that only separates it from the tags around it."""
        if self._lead:
            text = text.lstrip()
            if not text:
                return
            self._lead = False
        body = text.rstrip()
        if body:
            events.append(TextDelta(self._space + body))
            self._space = text[len(body) :]
        else:
            self._space += text

    def _call_delta(self, text: str, events: list[Event]) -> None:
        """The call as it is written, once its name is known (for showing it live)."""
        if self._name is None:
            self._name_buf += text
            body = self._name_buf.lstrip()
            ends = [i for i in (body.find("\n"), body.find("<")) if i >= 0]
            if not ends and len(body) < MAX_NAME:
                return
            end = min(ends, default=len(body))
            self._name = body[:end].strip()
            text = body[end:]
        if text:
            events.append(ToolCallDelta(self._name, text, self.calls))

    def _end_call(self, events: list[Event]) -> None:
        name, arguments_text = split_call("".join(self._call))
        self._call, self._name, self._name_buf = [], None, ""
        if not name:
            return
        tool = self._tools.get(name)
        arguments = {
            key.strip(): _value(tool, key.strip(), value) for key, value in _ARGUMENT.findall(arguments_text)
        }
        events.append(ToolCall(name, call_text(tool, name, arguments), self._new_id()))
        self.calls += 1


def split_call(body: str) -> tuple[str, str]:
    """A call's name and the text of its arguments (GLM-4.7 may omit the newline between them)."""
    body = body.strip()
    ends = [i for i in (body.find("\n"), body.find("<arg_key>")) if i >= 0]
    cut = min(ends, default=len(body))
    return body[:cut].strip(), body[cut:]


def _value(tool: ToolDeclaration | None, key: str, raw: str) -> Any:
    """A `string` parameter's value as written; any other value as JSON when it is JSON."""
    if tool is not None:
        declared = tool.function_schema.get("parameters", {}).get("properties", {}).get(key, {})
        if isinstance(declared, dict) and declared.get("type") == "string":
            return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def call_text(tool: ToolDeclaration | None, name: str, arguments: dict[str, Any]) -> str:
    """The call in the form the tool runs (code for `python`, JSON for functions)."""
    if tool is not None:
        try:
            return normalize_call(name, tool.text_from_arguments(arguments))
        except (KeyError, TypeError, ValueError):
            pass
    return json.dumps(arguments, ensure_ascii=False)


def _partial_tag(text: str, tag: str) -> int:
    """Length of the suffix of `text` that is a proper prefix of `tag` (which starts with its only `<`)."""
    start = text.rfind("<", max(0, len(text) - len(tag) + 1))
    if start < 0:
        return 0
    return len(text) - start if tag.startswith(text[start:]) else 0


def parse_stream(
    chunks: TextStream, tools: Sequence[ToolDeclaration] = (), prompt: str = ""
) -> Iterator[ModelEvent]:
    """Raw model text in, events out: reasoning, answer and call deltas, each `ToolCall` as soon as
    its `</tool_call>` arrives, then `Done` ("tool_call" when the step made calls). `prompt` is what
    the model continues: ending in `<think>`, its output starts inside the reasoning."""
    parser = OutputParser(tools, new_call_id, reasoning_open=prompt.endswith(THINK_OPEN))
    feed = parser.feed
    ending: list[object] = []
    for chunk in keep_return(chunks, ending):
        yield from feed(chunk)
    yield from parser.finish()
    finish, usage = finish_and_usage(ending)
    yield Done("tool_call" if parser.calls and finish == "stop" else finish, usage)
