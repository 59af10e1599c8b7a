"""OpenAI-compatible servers (vLLM, SGLang, llama.cpp, the Zhipu open platform) in both API modes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.backends.base import ToolDeclaration
from models.backends.prompt import PromptBackend
from models.events import Done, ModelEvent, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from models.messages import GenerationParams, Message
from models.protocols import GLM4, ChatProtocol, detect_protocol, get_protocol
from models.protocols.base import STOP_STRINGS, STOP_TOKEN_IDS, TextStream, new_call_id, normalize_call
from models.tokens import estimate_tokens

DEFAULT_CONTEXT = 8192


@dataclass
class CompletionsSource:
    """`/v1/completions`: the app renders the prompt and parses the output itself.

    GLM-4.5+ tokenizers mark `<think>`, `<tool_call>` and the argument tags special, and servers drop
    special tokens from the text by default: for those protocols they are asked to keep them.
    """

    client: Any
    model: str
    protocol: ChatProtocol = GLM4

    def stream_text(self, prompt: str, params: GenerationParams, cancel: threading.Event) -> TextStream:
        extra: dict[str, Any] = {"stop_token_ids": list(STOP_TOKEN_IDS)}
        if self.protocol.output_tags:
            extra["skip_special_tokens"] = False
        stream = self.client.completions.create(
            model=self.model,
            prompt=prompt,
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(STOP_STRINGS),
            stream=True,
            extra_body=extra,
        )
        finish = "stop"
        with stream:
            for chunk in stream:
                if cancel.is_set():
                    return "cancelled"
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.text:
                    yield choice.text
                finish = choice.finish_reason or finish
        return "cancelled" if cancel.is_set() else finish


def to_chat_messages(messages: Sequence[Message], tools: Sequence[ToolDeclaration]) -> list[dict[str, Any]]:
    """The history as chat-completions messages: tool calls as `tool_calls`, observations as `tool`.

    A step's calls (consecutive call messages) go in one assistant message, with the text the model
    wrote before them in the same step (an assistant message right before the calls) as its
    `content`. Reasoning goes back as `reasoning_content` for the current turn only (after the
    last user message), as GLM-4.5+ templates keep it.
    """
    by_name = {t.name: t for t in tools}
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if m.is_tool_call:
            call = {
                "id": m.tool_call_id or new_call_id(),
                "type": "function",
                "function": {"name": m.metadata, "arguments": _arguments_json(by_name, m)},
            }
            previous = out[-1] if out else {}
            if previous.get("role") == "assistant" and (
                messages[i - 1].is_tool_call or "tool_calls" not in previous
            ):
                previous.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif m.role == "observation":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.content or (m.reasoning and i > last_user):
            item: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.reasoning and i > last_user:
                item["reasoning_content"] = m.reasoning
            out.append(item)
    return out


def _arguments_json(tools: dict[str, ToolDeclaration], message: Message) -> str:
    tool = tools.get(message.metadata)
    try:
        arguments = tool.arguments_from_text(message.content) if tool else json.loads(message.content)
    except (ValueError, KeyError, TypeError):
        arguments = {"input": message.content}
    return json.dumps(arguments, ensure_ascii=False)


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ChatCompletionsBackend:
    """`/v1/chat/completions` with `tools`: the server renders the prompt and parses tool calls."""

    client: Any
    model: str
    context_window: int = DEFAULT_CONTEXT

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDeclaration],
        params: GenerationParams,
        cancel: threading.Event,
    ) -> Iterator[ModelEvent]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_chat_messages(messages, tools),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},  # the real token count, for the step timings
        }
        if not params.thinking:  # GLM-4.5+ templates (vLLM, SGLang): no reasoning
            request["extra_body"] = {"chat_template_kwargs": {"enable_thinking": False}}
        if tools:
            request["tools"] = [{"type": "function", "function": t.function_schema} for t in tools]
        calls: dict[int, _PendingCall] = {}
        finish = "stop"
        usage: dict[str, int] = {}
        with self.client.chat.completions.create(**request) as stream:
            for chunk in stream:
                if cancel.is_set():
                    finish = "cancelled"
                    break
                if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                    usage = {"completion_tokens": chunk.usage.completion_tokens}
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if reasoning := _reasoning_of(delta):
                    yield ReasoningDelta(reasoning)
                if delta.content:
                    yield TextDelta(delta.content)
                for part in delta.tool_calls or []:
                    index = part.index or 0
                    yield from _grow_call(calls.setdefault(index, _PendingCall()), part, len(calls) - 1)
                finish = choice.finish_reason or finish
        by_name = {t.name: t for t in tools}
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call.name, _call_text(by_name.get(call.name), call), call.id or new_call_id())
        if calls and finish in ("stop", "tool_calls"):
            finish = "tool_call"
        yield Done(finish, usage)


def _reasoning_of(delta: Any) -> str:
    """The reasoning in a chat delta: `reasoning_content` (vLLM `--reasoning-parser glm45`, SGLang,
    the Zhipu platform) or `reasoning` (newer vLLM)."""
    extra = getattr(delta, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) else ""


def _grow_call(call: _PendingCall, part: Any, number: int) -> Iterator[ToolCallDelta]:
    call.id = part.id or call.id
    function = part.function
    if function is None:
        return
    call.name = function.name or call.name
    if function.arguments:
        call.arguments.append(function.arguments)
        yield ToolCallDelta(call.name, function.arguments, number)


def _call_text(tool: ToolDeclaration | None, call: _PendingCall) -> str:
    """The call in GLM-4 form (code for `python`, JSON for functions); raw text when it won't convert."""
    raw = "".join(call.arguments)
    if tool is None:
        return raw
    try:
        return normalize_call(call.name, tool.text_from_arguments(json.loads(raw or "{}")))
    except (ValueError, KeyError, TypeError):
        return raw


def make_client(api_base: str, api_key: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=api_base, api_key=api_key or "EMPTY", timeout=600.0, max_retries=0)


class ModelListError(RuntimeError):
    """The server doesn't list its models and no model name was given."""


def served_model(client: Any, wanted: str, explicit: bool) -> tuple[str, int]:
    """The model name to request and its context length as the server reports it (vLLM: max_model_len).

    Some hosted APIs have no `/models`: with the name given explicitly, an error answer there only
    means the context length is unknown (0). An unreachable server is still an error.
    """
    from openai import APIStatusError

    try:
        models = list(client.models.list())
    except APIStatusError as exc:
        if not explicit:
            raise ModelListError(f"answers {exc.status_code} on /models, so it can't say its models") from exc
        return wanted, 0
    names = [m.id for m in models]
    name = wanted if explicit or wanted in names or not names else names[0]
    for m in models:
        if m.id == name:
            return name, int(getattr(m, "max_model_len", 0) or 0)
    return name, 0


def load_openai_backend(
    api_base: str, api_key: str, model: str, mode: str, max_context: int = 0, model_explicit: bool = False
) -> ChatCompletionsBackend | PromptBackend:
    client = make_client(api_base, api_key)
    name, served_context = served_model(client, model, model_explicit)
    context = max_context or served_context or DEFAULT_CONTEXT
    if mode == "completions":
        protocol = get_protocol(detect_protocol(model_name=name))
        return PromptBackend(
            CompletionsSource(client, name, protocol), context, estimate_tokens, protocol=protocol
        )
    return ChatCompletionsBackend(client, name, context)
