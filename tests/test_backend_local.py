"""The in-process backend on a tiny random-weight GLM checkpoint, through the real Auto classes."""

import threading
from pathlib import Path

import pytest

from models.backends import BackendLoadError, get_text_backend
from models.backends.local import TransformersSource
from models.backends.prompt import PromptBackend
from models.events import Done, TextDelta, ToolCall, ToolCallDelta
from models.messages import GenerationParams, Message
from models.protocol import render_prompt
from models.settings import ModelSettings
from models.tiny import build_text_checkpoint
from tests.conversations import CONVERSATIONS


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> PromptBackend:
    checkpoint = build_text_checkpoint(tmp_path_factory.mktemp("tiny") / "glm")
    settings = ModelSettings("transformers", str(checkpoint), "", "", "", "chat", False, 0)
    loaded = get_text_backend(settings)
    assert isinstance(loaded, PromptBackend)
    return loaded


def test_loads_native_glm_on_cpu(backend: PromptBackend) -> None:
    source = backend.source
    assert isinstance(source, TransformersSource)
    assert type(source.model).__name__ == "GlmForCausalLM"
    assert source.device == "cpu"
    assert backend.context_window == source.model.config.max_position_embeddings
    assert backend.count_tokens("hello world") >= 2


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_checkpoint_template_renders_like_our_renderer(backend: PromptBackend, name, messages, tools) -> None:
    assert backend.render(messages, tools) == render_prompt(messages, tools)


def test_streams_and_ends(backend: PromptBackend) -> None:
    params = GenerationParams(temperature=0.0, max_new_tokens=24)
    events = list(backend.stream([Message("user", "Hello")], [], params, threading.Event()))
    assert isinstance(events[-1], Done)
    assert events[-1].finish_reason in {"stop", "length", "tool_call"}
    streamed = [e for e in events if isinstance(e, TextDelta | ToolCallDelta)]
    assert streamed, "the tiny model writes something"
    written = "".join(e.text for e in streamed)
    assert backend.count_tokens(written) <= 24 + 2
    if events[-1].finish_reason == "tool_call":
        assert isinstance(events[-2], ToolCall)


def test_greedy_generation_is_repeatable(backend: PromptBackend) -> None:
    params = GenerationParams(temperature=0.0, max_new_tokens=16)

    def text() -> str:
        events = backend.stream([Message("user", "Repeat")], [], params, threading.Event())
        return "".join(e.text for e in events if isinstance(e, TextDelta | ToolCallDelta))

    assert text() == text()


def test_cancel_ends_generation_early(backend: PromptBackend) -> None:
    cancel = threading.Event()
    params = GenerationParams(temperature=1.0, max_new_tokens=2000)
    source = backend.source
    chunks = []
    stream = source.stream_text(render_prompt([Message("user", "Go on")]), params, cancel)
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration as end:
            finish = end.value
            break
        if len(chunks) == 3:
            cancel.set()
    assert finish in {"cancelled", "stop"}
    assert backend.count_tokens("".join(chunks)) < 200


def test_missing_model_says_what_to_set(tmp_path: Path) -> None:
    settings = ModelSettings("transformers", str(tmp_path / "nothing-here"), "", "", "", "chat", False, 0)
    with pytest.raises(BackendLoadError, match="Set GLM_MODEL to a local checkpoint folder"):
        get_text_backend(settings)
