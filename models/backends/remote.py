"""OpenAI-compatible servers (vLLM, SGLang, llama.cpp, the Zhipu open platform) in both API modes."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from models.backends.base import ToolDeclaration
from models.backends.prompt import PromptBackend
from models.backends.server import (
    ModelListError,
    ServerInfo,
    TokenCounter,
    checkpoint_facts,
    has_completions,
    http_client,
    served_model,
    token_counter,
)
from models.errors import RequestRefused, ServerGone
from models.events import Done, ModelEvent, Notice, ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from models.messages import GenerationParams, Message
from models.protocols import GLM4, ChatProtocol, detect_protocol, get_protocol
from models.protocols.base import STOP_STRINGS, STOP_TOKEN_IDS, TextStream, new_call_id, normalize_call
from models.tokens import estimate_tokens

DEFAULT_CONTEXT = 8192

__all__ = ["ModelListError", "load_openai_backend"]


@contextmanager
def server_errors() -> Iterator[None]:
    """The `openai` client's errors as the model layer's: `RequestRefused` for an error status (the
    server's own message kept), `ServerGone` for a connection that failed or broke off mid-stream."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise RequestRefused(exc.status_code, _detail(exc)) from exc
    except (openai.APIConnectionError, httpx.TransportError) as exc:
        raise ServerGone(f"{type(exc).__name__}: {exc}", unreachable=never_connected(exc)) from exc


def never_connected(exc: BaseException) -> bool:
    """The error (or what caused it) is a failure to connect at all, not a connection that broke off.

    Told by the transport's class name (`ConnectError`, `ConnectTimeout`), since the `openai` client
    may sit on its own copy of httpx, or by the socket's own error."""
    seen: BaseException | None = exc
    for _ in range(8):  # the chain of causes, bounded
        if seen is None:
            break
        if type(seen).__name__ in _CONNECT_ERRORS or isinstance(seen, _REFUSED):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_CONNECT_ERRORS = {"ConnectError", "ConnectTimeout"}
_REFUSED = (ConnectionRefusedError, socket.gaierror)


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str) and message:
            return message
    return exc.message


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
        with server_errors():
            return (yield from self._stream_text(prompt, params, cancel))

    def _stream_text(self, prompt: str, params: GenerationParams, cancel: threading.Event) -> TextStream:
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
            stream_options={"include_usage": True},  # the real token count, for the step timings
            extra_body=extra,
        )
        finish = "stop"
        usage: dict[str, int] = {}
        with stream:
            for chunk in stream:
                if cancel.is_set():
                    return "cancelled"
                if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                    usage = {"completion_tokens": chunk.usage.completion_tokens}
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.text:
                    yield choice.text
                finish = choice.finish_reason or finish
        return ("cancelled", usage) if cancel.is_set() else (finish, usage)


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


def wants_tool_parser(exc: RequestRefused) -> bool:
    """A refusal because the server can't parse tool calls (vLLM without `--enable-auto-tool-choice
    --tool-call-parser`: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser')."""
    text = exc.detail.lower()
    named = "parser" in text or "auto-tool-choice" in text or "tool choice" in text
    return exc.status == 400 and "tool" in text and named


@dataclass
class ChatCompletionsBackend:
    """`/v1/chat/completions` with `tools`: the server renders the prompt and parses tool calls.

    With a `fallback` (auto mode, on a server that also offers raw completions), a request with tools
    that the server refuses for want of a tool parser goes to the fallback instead, from then on; the
    first time, a `Notice` says so.
    """

    client: Any
    model: str
    context_window: int = DEFAULT_CONTEXT
    counter: TokenCounter = field(default_factory=lambda: TokenCounter(estimate_tokens, "estimate"))
    fallback: PromptBackend | None = None
    fell_back: bool = False

    @property
    def token_source(self) -> str:
        return self.counter.source

    def count_tokens(self, text: str) -> int:
        return self.counter.count(text)

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDeclaration],
        params: GenerationParams,
        cancel: threading.Event,
    ) -> Iterator[ModelEvent]:
        if self.fell_back and tools and self.fallback is not None:
            yield from self.fallback.stream(messages, tools, params, cancel)
            return
        try:
            with server_errors():
                yield from self._chat(messages, tools, params, cancel)
        except RequestRefused as exc:
            if not (tools and self.fallback is not None and wants_tool_parser(exc)):
                raise
            self.fell_back = True
            yield Notice("api.fallback_to_completions", {"model": self.model})
            yield from self.fallback.stream(messages, tools, params, cancel)

    def _chat(
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
    return openai.OpenAI(base_url=api_base, api_key=api_key or "EMPTY", timeout=600.0, max_retries=0)


def model_protocol(info: ServerInfo) -> str | None:
    """The prompt format of the served model, told by the checkpoint it was loaded from (when that is a
    folder on this machine), else by its name or its path's name; None when the app doesn't know it."""
    model_type, template = checkpoint_facts(info.root)
    return detect_protocol(model_type, template, info.model) or detect_protocol(model_name=info.root)


def load_openai_backend(
    api_base: str, api_key: str, model: str, mode: str, max_context: int = 0, model_explicit: bool = False
) -> ChatCompletionsBackend | PromptBackend:
    """The backend for `mode`, after asking the server what it serves.

    "auto": raw completions when the server offers them and the model speaks a protocol the app
    renders and parses (GLM-4, GLM-4.5+), chat otherwise; a chat backend on a server with completions
    keeps them as its fallback for tools (see `ChatCompletionsBackend`).
    """
    client = make_client(api_base, api_key)
    info = served_model(client, model, model_explicit)
    http = http_client(api_key)
    protocol_name = model_protocol(info)
    if mode == "auto":
        info = dataclasses.replace(info, completions=has_completions(http, api_base, info.model))
        mode = "completions" if info.completions and protocol_name else "chat"
    counter = token_counter(http, api_base, info)
    context = max_context or info.context or DEFAULT_CONTEXT
    protocol = get_protocol(protocol_name)
    completions = PromptBackend(
        CompletionsSource(client, info.model, protocol),
        context,
        counter.count,
        protocol=protocol,
        token_source=counter.source,
    )
    if mode == "completions":
        return completions
    fallback = completions if info.completions else None
    return ChatCompletionsBackend(client, info.model, context, counter, fallback)
