"""A thinking model's `<think>` block is split from its answer however the stream is chunked, over
HTTP and in-process (where the tags are special tokens)."""

import itertools
import threading
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import AutoModelForImageTextToText

from app.images import prepare_image
from models.events import Done, ReasoningDelta, TextDelta
from models.messages import GenerationParams, Message
from models.tiny import build_vision_checkpoint
from models.vision import get_vision_backend
from models.vision.processors import processor_class
from models.vision.reasoning import split_reasoning
from tests.test_vision_http import VisionServer
from tests.test_vision_page import PAGE, png

OUTPUTS = {
    "think then answer": (
        "<think>Red dominates; x < 3 holds.</think><answer>The image is red.</answer>",
        "Red dominates; x < 3 holds.",
        "The image is red.",
    ),
    "no tags at all": ("A plain answer with <b> and a < sign.", "", "A plain answer with <b> and a < sign."),
    "answer without answer tags": ("<think>hmm</think>\nIt is blue.", "hmm", "\nIt is blue."),
    "cut off while thinking": ("<think>still going <thi", "still going <thi", ""),
}


def split(chunks: list[str]) -> tuple[str, str]:
    events = list(split_reasoning([*(TextDelta(c) for c in chunks), Done()]))
    assert isinstance(events[-1], Done)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, answer


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_every_split_gives_the_same_reasoning_and_answer(name: str) -> None:
    raw, reasoning, answer = OUTPUTS[name]
    assert split([raw]) == (reasoning, answer)
    assert split(list(raw)) == (reasoning, answer)
    for cut in range(len(raw) + 1):
        assert split([raw[:cut], raw[cut:]]) == (reasoning, answer), cut


def test_the_page_shows_thinking_apart_and_keeps_it(tmp_path, monkeypatch) -> None:
    server = VisionServer()
    server.thinking = "The middle pixel is pure red."
    server.thread.start()
    try:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base)
        monkeypatch.setenv("GLM_VISION_MODEL", "glm-4.1v-thinking-scripted")
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
        at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value(
            "Colour?"
        )
        at.run()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert not at.exception
    assistant = at.chat_message[1]
    (thinking,) = assistant.expander
    assert "Thinking" in thinking.label
    assert thinking.markdown[0].value == "The middle pixel is pure red."
    assert assistant.markdown[-1].value == "I see 1 image(s): 80x60 (255, 0, 0)."
    (answer,) = [m for m in at.session_state["conversation:vision"].messages if m.role == "assistant"]
    assert answer.info["reasoning"] == "The middle pixel is pure red."
    assert "<think>" not in answer.content


def build_thinking_checkpoint(outdir: Path, thought: str, answer: str) -> Path:
    """The tiny Glm4v checkpoint with weights set so that greedy decoding writes
    `<think>{thought}</think><answer>{answer}</answer>` and stops, each a single token.

    Every layer's output projections are zeroed, so the last hidden state is the current token's
    embedding; the chain's tokens get one-hot embeddings and the output head maps each to the next.
    """
    tiny = build_vision_checkpoint(outdir / "source")
    processor = processor_class("glm4v").from_pretrained(tiny)
    model = AutoModelForImageTextToText.from_pretrained(tiny)
    tokenizer = processor.tokenizer
    words = [tokenizer.encode(word, add_special_tokens=False) for word in (thought, answer)]
    assert all(len(ids) == 1 for ids in words), words
    tags = tokenizer.convert_tokens_to_ids(["<think>", "</think>", "<answer>", "</answer>", "<|user|>"])
    last_prompt_token = tokenizer.encode("\n", add_special_tokens=False)
    chain = [*last_prompt_token, tags[0], *words[0], tags[1], tags[2], *words[1], tags[3], tags[4]]
    language = model.model.language_model
    with torch.no_grad():
        for layer in language.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for step, (current, following) in enumerate(itertools.pairwise(chain)):
            language.embed_tokens.weight[current] = 0
            language.embed_tokens.weight[current, step] = 1
            model.lm_head.weight[following, step] = 10
    forced = outdir / "thinking"
    model.save_pretrained(forced)
    processor.save_pretrained(forced)
    return forced


def test_in_process_thinking_comes_apart_from_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_VISION_MODEL", str(build_thinking_checkpoint(tmp_path, "weather", "Hello")))
    backend = get_vision_backend()
    photo = prepare_image(png((255, 0, 0)), "red.png", backend.max_pixels)
    params = GenerationParams(temperature=0.0, top_p=1.0, max_new_tokens=20)
    events = list(
        backend.stream([Message("user", "Colour?", attachments=[photo])], params, threading.Event())
    )
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert (reasoning, answer) == ("weather", "Hello")
    done = events[-1]
    assert isinstance(done, Done)
    assert (done.finish_reason, done.usage["completion_tokens"]) == ("stop", 7)
