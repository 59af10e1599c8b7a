"""The glm-4v-9b path: a tiny checkpoint that loads only through remote code (tests/remote_glm4v.py),
through the real loading code, the image in the model's inputs, and the Vision page's one-image rule."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import pymupdf
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.images import prepare_image
from models.events import Done, TextDelta
from models.messages import GenerationParams, Message
from models.vision import VisionLoadError, get_vision_backend
from models.vision.local import RemoteCodeGlm4vBackend
from tests.remote_glm4v import IMAGE_SIZE, build_remote_glm4v
from tests.test_vision_page import PAGE, png

GREEDY = GenerationParams(temperature=0.0, top_p=1.0, max_new_tokens=8)
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_remote_glm4v(tmp_path_factory.mktemp("tiny-glm-4v-9b"))


@pytest.fixture
def env(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_VISION_MODEL", str(checkpoint))
    monkeypatch.setenv("GLM_TRUST_REMOTE_CODE", "1")
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def user(text: str, color: tuple[int, int, int] | None, max_pixels: int) -> Message:
    images = [prepare_image(png(color, (90, 60)), "photo.png", max_pixels)] if color else []
    return Message("user", text, attachments=images)


def test_loads_only_when_remote_code_is_allowed(env: pytest.MonkeyPatch) -> None:
    env.delenv("GLM_TRUST_REMOTE_CODE")
    with pytest.raises(VisionLoadError, match="GLM_TRUST_REMOTE_CODE=1"):
        get_vision_backend()
    env.setenv("GLM_TRUST_REMOTE_CODE", "1")
    backend = get_vision_backend()
    assert isinstance(backend, RemoteCodeGlm4vBackend)
    assert type(backend.model).__name__ == "TinyGlm4vForCausalLM"
    assert type(backend.model).__module__.startswith("transformers_modules.")
    assert type(backend.tokenizer).__name__ == "TinyGlm4vTokenizer"
    assert (backend.max_images, backend.max_pixels) == (1, IMAGE_SIZE * IMAGE_SIZE)
    assert "torchvision" not in sys.modules


def test_the_image_reaches_the_model_inputs(env: pytest.MonkeyPatch) -> None:
    backend = get_vision_backend()
    assert isinstance(backend, RemoteCodeGlm4vBackend)
    last_logits = []
    for color in [(255, 0, 0), (0, 0, 255)]:
        inputs = backend.build_inputs([Message("system", "Be brief."), user("Colour?", color, 10**6)])
        assert inputs["images"].shape == (1, 3, IMAGE_SIZE, IMAGE_SIZE)
        pixels = inputs["images"][0] * STD[:, None, None] + MEAN[:, None, None]
        assert torch.allclose(pixels.mean(dim=(1, 2)), torch.tensor(color) / 255, atol=0.01)
        prompt = backend.tokenizer.decode(inputs["input_ids"][0])
        placeholder = "<|begin_of_image|><|endoftext|><|end_of_image|>"
        assert f"<|system|>\nBe brief.<|user|>\n{placeholder}Colour?<|assistant|>" in prompt
        with torch.no_grad():
            last_logits.append(backend.model(**inputs).logits[0, -1])
    assert not torch.allclose(last_logits[0], last_logits[1])
    events = list(backend.stream([user("Colour?", (255, 0, 0), 10**6)], GREEDY, threading.Event()))
    assert isinstance(events[-1], Done)
    assert events[-1].usage["completion_tokens"] >= 1
    assert all(isinstance(e, TextDelta) for e in events[:-1])


def test_a_text_only_chatglm_checkpoint_is_not_taken_for_a_vision_model(
    checkpoint: Path, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    text_only = shutil.copytree(checkpoint, tmp_path / "chatglm-text")
    config = json.loads((text_only / "config.json").read_text())
    del config["vision_config"]
    (text_only / "config.json").write_text(json.dumps(config))
    env.setenv("GLM_VISION_MODEL", str(text_only))
    with pytest.raises(VisionLoadError, match=r"text-only ChatGLM checkpoint .*no vision_config"):
        get_vision_backend()


def one_page_pdf() -> bytes:
    document = pymupdf.open()
    document.new_page(width=300, height=200).insert_text((40, 40), "Invoice")
    return document.tobytes()


def test_the_page_keeps_to_one_image_and_loses_nothing_when_refusing(env: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert "up to 1 image per conversation" in at.caption[0].value
    at.sidebar.number_input(key="vision-max-new").set_value(16)
    at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value("Colour?")
    at.run()
    assert not at.exception
    assert [m.role for m in at.session_state["conversation:vision"].messages] == ["user", "assistant"]

    at.chat_input(key="vision-input").upload("blue.png", png((0, 0, 255)), "image/png").set_value(
        "And this one?"
    )
    at.run()
    assert not at.exception
    assert "takes at most 1 image per conversation and this one has 2" in at.error[0].value
    assert [t.value for t in at.text_area if t.value == "And this one?"], "the refused text stays on the page"
    assert len(at.session_state["conversation:vision"].messages) == 2

    at.sidebar.file_uploader(key="vision-pdf").upload("invoice.pdf", one_page_pdf(), "application/pdf")
    at.run()
    at.sidebar.button(key="vision-pdf-attach").click().run()
    at.chat_input(key="vision-input").set_value("What does the invoice say?").run()
    assert not at.exception
    assert "takes at most 1 image" in at.error[0].value
    conversation = at.session_state["conversation:vision"]
    assert len(conversation.messages) == 2
    staged = at.session_state[f"vision-staged:{conversation.id}"]
    assert [a.name for a in staged.attachments] == ["invoice p1.png"], "the staged page is kept"
    assert "Attached to your next message:" in [c.value for c in at.caption]
    assert any(t.value == "What does the invoice say?" for t in at.text_area)
