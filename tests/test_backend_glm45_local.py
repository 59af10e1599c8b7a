"""In-process GLM-4.5: a tiny random `Glm4MoeForCausalLM` with GLM-4.5's special tokens and the
published GLM-4.6 template, loaded through the real Auto classes; the protocol is picked from it."""

import threading
from pathlib import Path

import pytest
import torch

from app.agent import Answer, TurnError, run_turn
from app.tools.base import ToolContext
from models.backends.prompt import PromptBackend
from models.events import Done
from models.messages import GenerationParams, Message
from models.protocols import glm45
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
    vocab = source.tokenizer.get_vocab()
    assert [vocab[t] for t in ("<think>", "<tool_call>", "<arg_key>", "/nothink")] == [
        151350,
        151352,
        151356,
        151360,
    ]


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
