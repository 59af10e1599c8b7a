"""The in-process backend on a tiny random-weight GLM checkpoint, through the real Auto classes."""

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from models.backends import BackendLoadError, get_text_backend
from models.backends.local import TransformersSource
from models.backends.prompt import PromptBackend
from models.events import Done, TextDelta, ToolCall, ToolCallDelta
from models.messages import GenerationParams, Message
from models.protocols.base import STOP_TOKEN_IDS as STOP_IDS
from models.protocols.glm4 import render_prompt
from models.settings import ModelSettings
from models.tiny import build_text_checkpoint
from tests.conversations import CONVERSATIONS, declared


def load(checkpoint: Path) -> PromptBackend:
    settings = ModelSettings("transformers", str(checkpoint), "", "", "", "chat", False, 0)
    loaded = get_text_backend(settings)
    assert isinstance(loaded, PromptBackend)
    return loaded


def variant(checkpoint: Path, dest: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of the checkpoint with some of its files changed by `edit`."""
    shutil.copytree(checkpoint, dest)
    edit(dest)
    return dest


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_checkpoint(tmp_path_factory.mktemp("tiny") / "glm")


@pytest.fixture(scope="module")
def backend(checkpoint: Path) -> PromptBackend:
    return load(checkpoint)


@pytest.fixture(scope="module")
def endless(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> PromptBackend:
    """The checkpoint with GLM-4's stop ids suppressed in its generation config: it never stops."""

    def never_stop(folder: Path) -> None:
        edit_json(folder / "generation_config.json", lambda c: c.update(suppress_tokens=list(STOP_IDS)))

    return load(variant(checkpoint, tmp_path_factory.mktemp("endless") / "glm", never_stop))


def test_loads_native_glm_on_cpu(backend: PromptBackend) -> None:
    source = backend.source
    assert isinstance(source, TransformersSource)
    assert type(source.model).__name__ == "GlmForCausalLM"
    assert source.device == "cpu"
    assert backend.context_window == source.model.config.max_position_embeddings
    assert backend.count_tokens("hello world") >= 2


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_checkpoint_template_renders_like_our_renderer(backend: PromptBackend, name, messages, tools) -> None:
    assert backend.render(messages, declared(tools)) == render_prompt(messages, tools)


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


def stream_until(backend: PromptBackend, params: GenerationParams, cancel_after: int | None):
    """Stream an answer, setting `cancel` after `cancel_after` streamed pieces; returns the pieces
    streamed before and after the cancel, and the finish reason."""
    cancel = threading.Event()
    before: list[str] = []
    after: list[str] = []
    done = None
    for event in backend.stream([Message("user", "Go on")], [], params, cancel):
        if isinstance(event, Done):
            done = event
        elif isinstance(event, TextDelta | ToolCallDelta):
            (after if cancel.is_set() else before).append(event.text)
            if len(before) == cancel_after:
                cancel.set()
    assert done is not None
    return before, after, done.finish_reason


def test_the_endless_variant_never_stops_by_itself(endless: PromptBackend) -> None:
    _, _, finish = stream_until(endless, GenerationParams(temperature=1.0, max_new_tokens=300), None)
    assert finish == "length"


def test_cancel_ends_generation_early(endless: PromptBackend) -> None:
    params = GenerationParams(temperature=1.0, max_new_tokens=4000)
    before, after, finish = stream_until(endless, params, cancel_after=3)
    assert finish == "cancelled"
    assert len(before) == 3
    assert endless.count_tokens("".join(after)) < 64, "generation goes on only briefly after the cancel"


def test_checkpoint_without_a_chat_template_uses_the_glm4_renderer(checkpoint: Path, tmp_path: Path) -> None:
    def drop_template(folder: Path) -> None:
        (folder / "chat_template.jinja").unlink(missing_ok=True)
        edit_json(folder / "tokenizer_config.json", lambda c: c.pop("chat_template", None))

    plain = load(variant(checkpoint, tmp_path / "glm", drop_template))
    assert not plain.source.tokenizer.chat_template
    for _, messages, tools in CONVERSATIONS:
        assert plain.render(messages, declared(tools)) == render_prompt(messages, tools)
    params = GenerationParams(temperature=0.0, max_new_tokens=8)
    events = list(plain.stream([Message("user", "Hello")], [], params, threading.Event()))
    assert isinstance(events[-1], Done) and len(events) > 1


def test_missing_model_says_what_to_set(tmp_path: Path) -> None:
    settings = ModelSettings("transformers", str(tmp_path / "nothing-here"), "", "", "", "chat", False, 0)
    with pytest.raises(BackendLoadError, match="set GLM_MODEL to a local checkpoint folder"):
        get_text_backend(settings)
