"""The tiny Glm4v checkpoint, built here, answers about uploaded images in-process via the Auto classes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from io import BytesIO
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    Glm4vForConditionalGeneration,
    Glm4vImageProcessorPil,
    Glm46VForConditionalGeneration,
    Glm46VProcessor,
)

from app.images import prepare_image
from models.events import Done, TextDelta
from models.messages import Attachment, GenerationParams, Message
from models.tiny import VISION_MAX_PIXELS, build_vision_checkpoint
from models.vision import VisionInputError, VisionLoadError, get_vision_backend
from models.vision.base import check_image_count
from models.vision.local import TransformersVisionBackend
from models.vision.processors import ImageOnlyGlm4vProcessor

GREEDY = GenerationParams(temperature=0.0, top_p=1.0, max_new_tokens=12)


def image_bytes(color: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def user(text: str, *colors: tuple[int, int, int]) -> Message:
    images = [prepare_image(image_bytes(c), f"img{i}.png") for i, c in enumerate(colors)]
    return Message("user", text, attachments=images)


@pytest.fixture(scope="session")
def vision_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vision_checkpoint(tmp_path_factory.mktemp("tiny-glm4v"))


@pytest.fixture(scope="module")
def backend(vision_checkpoint: Path) -> TransformersVisionBackend:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GLM_BACKEND", "transformers")
        env.setenv("GLM_VISION_MODEL", str(vision_checkpoint))
        loaded = get_vision_backend()
    assert isinstance(loaded, TransformersVisionBackend)
    return loaded


def collect(events) -> tuple[str, Done]:
    events = list(events)
    assert isinstance(events[-1], Done)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return "".join(e.text for e in events[:-1]), events[-1]


def test_checkpoint_loads_through_the_auto_classes_without_torchvision(vision_checkpoint: Path) -> None:
    model = AutoModelForImageTextToText.from_pretrained(vision_checkpoint)
    assert isinstance(model, Glm4vForConditionalGeneration)
    # Two 151552 x 32 embedding tables (head size 32, the least vLLM serves) and little else.
    assert sum(p.numel() for p in model.parameters()) < 10_500_000
    processor = ImageOnlyGlm4vProcessor.from_pretrained(vision_checkpoint)
    assert isinstance(processor.image_processor, Glm4vImageProcessorPil)
    assert not hasattr(processor, "video_processor")
    assert processor.tokenizer.convert_tokens_to_ids("<|image|>") == model.config.image_token_id == 151343
    assert "torchvision" not in sys.modules


def test_answers_a_question_about_an_image_end_to_end(backend: TransformersVisionBackend) -> None:
    assert backend.max_images is None
    assert backend.max_pixels == VISION_MAX_PIXELS
    text, done = collect(
        backend.stream([user("What colour is this?", (255, 0, 0))], GREEDY, threading.Event())
    )
    assert text.strip()
    assert done.finish_reason in {"stop", "length"}
    assert 0 < done.usage["completion_tokens"] <= GREEDY.max_new_tokens


def test_the_image_reaches_the_model(backend: TransformersVisionBackend) -> None:
    logits = []
    for color in [(255, 0, 0), (0, 0, 255)]:
        inputs = backend.build_inputs([user("What colour is this?", color)])
        grid = inputs["image_grid_thw"]
        image_tokens = int((inputs["input_ids"] == backend.model.config.image_token_id).sum())
        assert image_tokens == int(grid.prod()) // 4
        with torch.no_grad():
            logits.append(backend.model(**inputs).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1])


def test_images_are_sized_to_what_the_processor_keeps(backend: TransformersVisionBackend) -> None:
    """`max_pixels` is per image: a photo prepared to it reaches the model at that size, not halved
    again by the processor (GLM-4V's `longest_edge` counts each image twice, once per temporal patch)."""
    longest_edge = backend.processor.image_processor.size["longest_edge"]
    assert backend.max_pixels == VISION_MAX_PIXELS == longest_edge // 2
    photo = prepare_image(image_bytes((255, 0, 0), (800, 600)), "photo.png", backend.max_pixels)
    width, height = Image.open(BytesIO(photo.data)).size
    assert width * height <= backend.max_pixels
    grid = backend.build_inputs([Message("user", "What is it?", attachments=[photo])])["image_grid_thw"]
    patch = backend.processor.image_processor.patch_size
    assert int(grid[0, 1:].prod()) * patch * patch >= 0.75 * width * height


def test_the_processor_follows_the_checkpoint_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = build_vision_checkpoint(tmp_path / "tiny-glm46v", family="glm46v")
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_VISION_MODEL", str(checkpoint))
    loaded = get_vision_backend()
    assert isinstance(loaded, TransformersVisionBackend)
    assert isinstance(loaded.processor, Glm46VProcessor)
    assert isinstance(loaded.model, Glm46VForConditionalGeneration)
    _, done = collect(loaded.stream([user("What colour is this?", (0, 255, 0))], GREEDY, threading.Event()))
    assert done.usage["completion_tokens"] >= 1
    assert "torchvision" not in sys.modules


def test_several_images_at_different_turns(backend: TransformersVisionBackend) -> None:
    messages = [
        Message("system", "Describe images."),
        user("First picture.", (255, 0, 0)),
        Message("assistant", "A red picture."),
        user("Compare these two.", (0, 255, 0), (0, 0, 255)),
    ]
    inputs = backend.build_inputs(messages)
    assert inputs["image_grid_thw"].shape[0] == 3
    prompt = backend.processor.tokenizer.decode(inputs["input_ids"][0])
    assert prompt.count("<|begin_of_image|>") == 3
    first_turn, _, later = prompt.partition("<|assistant|>\nA red picture.")
    assert first_turn.count("<|begin_of_image|>") == 1
    assert later.count("<|begin_of_image|>") == 2
    assert prompt.index("<|begin_of_image|>") < prompt.index("First picture.")
    _, done = collect(backend.stream(messages, GREEDY, threading.Event()))
    assert done.finish_reason in {"stop", "length"}
    assert done.usage["completion_tokens"] >= 1
    assert done.usage["prompt_tokens"] == inputs["input_ids"].shape[1]


def test_a_text_only_turn_needs_no_image(backend: TransformersVisionBackend) -> None:
    _, done = collect(backend.stream([Message("user", "Hello")], GREEDY, threading.Event()))
    assert done.usage["completion_tokens"] >= 1


def test_cancel_stops_generation(backend: TransformersVisionBackend) -> None:
    cancel = threading.Event()
    params = GenerationParams(temperature=0.0, top_p=1.0, max_new_tokens=400)
    events = []
    for event in backend.stream([user("Describe", (255, 0, 0))], params, cancel):
        events.append(event)
        cancel.set()
    done = events[-1]
    assert isinstance(done, Done)
    assert done.finish_reason == "cancelled"
    assert done.usage["completion_tokens"] < 400


def test_abandoning_the_stream_ends_the_generation_thread(backend: TransformersVisionBackend) -> None:
    params = GenerationParams(temperature=0.0, top_p=1.0, max_new_tokens=400)
    stream = backend.stream([user("Describe", (255, 0, 0))], params, threading.Event())
    assert isinstance(next(stream), TextDelta)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "glm-vision-generate"]


def test_an_unreadable_attachment_is_a_clear_input_error(backend: TransformersVisionBackend) -> None:
    broken = Message("user", "What?", attachments=[Attachment("image", "broken.png", "image/png", b"nope")])
    with pytest.raises(VisionInputError, match=r"broken\.png is not a readable image"):
        list(backend.stream([broken], GREEDY, threading.Event()))


def test_one_image_models_say_so() -> None:
    messages = [user("a", (255, 0, 0)), Message("assistant", "ok"), user("b", (0, 0, 255))]
    assert check_image_count(messages, None, "any") == 2
    with pytest.raises(VisionInputError, match="THUDM/glm-4v-9b takes at most 1 image per conversation"):
        check_image_count(messages, 1, "THUDM/glm-4v-9b")


def test_load_errors_say_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_BACKEND", "transformers")
    monkeypatch.setenv("GLM_VISION_MODEL", str(tmp_path / "missing"))
    with pytest.raises(VisionLoadError, match=r"GLM_VISION_MODEL=.*missing.*models\.tiny .*--vision"):
        get_vision_backend()
    remote = tmp_path / "glm-4v-9b"
    remote.mkdir()
    auto_map = {"AutoConfig": "configuration_chatglm.ChatGLMConfig"}
    (remote / "config.json").write_text(json.dumps({"model_type": "chatglm", "auto_map": auto_map}))
    monkeypatch.setenv("GLM_VISION_MODEL", str(remote))
    monkeypatch.delenv("GLM_TRUST_REMOTE_CODE", raising=False)
    with pytest.raises(VisionLoadError, match="GLM_TRUST_REMOTE_CODE=1"):
        get_vision_backend()


def test_cli_builds_the_same_vision_checkpoint(vision_checkpoint: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "models.tiny", str(tmp_path), "--vision"]
    subprocess.run(command, check=True, capture_output=True, cwd=root)
    built = sorted(p.name for p in vision_checkpoint.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == built
    for name in built:
        assert (tmp_path / name).read_bytes() == (vision_checkpoint / name).read_bytes(), name
