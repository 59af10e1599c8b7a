"""In-process GLM-4.5: a tiny random `Glm4MoeForCausalLM` with GLM-4.5's special tokens and the
published GLM-4.6 template, loaded through the real Auto classes; the protocol is picked from it."""

import json
import threading
from pathlib import Path

import pytest
import torch

from app.agent import Answer, TurnError, run_turn
from app.tools.base import ToolContext
from models.backends.prompt import PromptBackend
from models.events import Done
from models.messages import GenerationParams, Message
from models.protocols import glm45, glm47
from models.tiny import build_moe_checkpoint
from tests.test_backend_local import load
from tests.test_protocol_glm45 import ALL, CONVERSATIONS, PYTHON


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> PromptBackend:
    return load(build_moe_checkpoint(tmp_path_factory.mktemp("tiny") / "glm45"))


def test_loads_as_glm45_with_heads_vllm_serves(backend: PromptBackend) -> None:
    source = backend.source
    assert type(source.model).__name__ == "Glm4MoeForCausalLM"
    assert backend.protocol.name == "glm45", "picked from the config's model_type"
    attention = source.model.model.layers[0].self_attn
    assert attention.head_dim >= 32
    assert len(source.model.model.layers[1].mlp.experts.gate_up_proj) == 4


def test_added_tokens_have_the_real_ids(backend: PromptBackend) -> None:
    """Every GLM-4.5 added token sits at the id of the real tokenizer (the fixture names its sources),
    and encodes as that one id."""
    fixture = Path(__file__).parent / "fixtures" / "glm-4.5.added_tokens.json"
    reference = {int(i): token for i, token in json.loads(fixture.read_text("utf-8"))["added_tokens"].items()}
    assert len(reference) == 36 and min(reference) == 151329 and max(reference) == 151364
    tokenizer = backend.source.tokenizer
    vocab = tokenizer.get_vocab()
    assert {i: token for token, i in vocab.items() if i in reference} == reference
    for i, token in reference.items():
        assert tokenizer.encode(token, add_special_tokens=False) == [i]


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
@pytest.mark.parametrize("thinking", [True, False])
def test_checkpoint_template_renders_like_our_renderer(
    backend: PromptBackend, name: str, messages: list[Message], tools, thinking: bool
) -> None:
    """transformers' apply_chat_template with the published template equals our renderer."""
    assert backend.render(messages, tools, thinking) == glm45.render_prompt(messages, tools, thinking)


def test_streamed_text_keeps_the_protocol_tags(backend: PromptBackend) -> None:
    tokenizer = backend.source.tokenizer
    streamer = backend.source._streamer()
    streamer.put(torch.tensor([[151331, 151333]]))  # the prompt, skipped
    text = "<think>hm</think>ok<tool_call>now</tool_call><|observation|>"
    for token in tokenizer.encode(text, add_special_tokens=False):
        streamer.put(torch.tensor([token]))
    streamer.end()
    assert "".join(streamer) == "<think>hm</think>ok<tool_call>now</tool_call>"


def test_a_turn_runs_in_process(backend: PromptBackend) -> None:
    params = GenerationParams(temperature=0.0, max_new_tokens=24)
    events = list(backend.stream([Message("user", "Hello")], ALL, params, threading.Event()))
    assert isinstance(events[-1], Done) and events[-1].finish_reason in {"stop", "length", "tool_call"}
    history = [Message("user", "Plot sin(x)")]
    turn = list(run_turn(backend, [PYTHON], history, params, ToolContext("s", Path(".")), 2))
    end = turn[-1]
    assert isinstance(end, Answer) or (isinstance(end, TurnError) and "tool calls" in end.text), end


@pytest.fixture(scope="module")
def backend47(tmp_path_factory: pytest.TempPathFactory) -> PromptBackend:
    template = (Path(__file__).parent / "fixtures" / "glm-4.7.chat_template.jinja").read_text("utf-8")
    return load(build_moe_checkpoint(tmp_path_factory.mktemp("tiny") / "glm47", chat_template=template))


@pytest.mark.parametrize(("name", "messages", "tools"), CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
@pytest.mark.parametrize("thinking", [True, False])
def test_glm47_checkpoint_is_detected_and_renders_like_our_renderer(
    backend47: PromptBackend, name: str, messages: list[Message], tools, thinking: bool
) -> None:
    """A `glm4_moe` checkpoint shipping GLM-4.7's template speaks GLM-4.7 (the config alone can't tell)."""
    assert backend47.protocol.name == "glm47"
    assert backend47.render(messages, tools, thinking) == glm47.render_prompt(messages, tools, thinking)


def test_glm47_turn_runs_in_process(backend47: PromptBackend) -> None:
    params = GenerationParams(temperature=0.0, max_new_tokens=24)
    history = [Message("user", "Plot sin(x)")]
    turn = list(run_turn(backend47, [PYTHON], history, params, ToolContext("s", Path(".")), 2))
    end = turn[-1]
    assert isinstance(end, Answer) or (isinstance(end, TurnError) and "tool calls" in end.text), end
