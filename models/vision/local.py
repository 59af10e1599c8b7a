"""In-process vision models: the native GLM-4V family (GLM-4.1V and later) and THUDM/glm-4v-9b.

Native checkpoints load through `AutoModelForImageTextToText` with their family's processor minus its
video processor (`models.vision.processors`); glm-4v-9b has no native class and loads through remote
code, only when the user allows it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from io import BytesIO
from typing import Any

import torch
from PIL import Image
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

from models.messages import Attachment, GenerationParams, Message
from models.protocols.base import STOP_TOKEN_IDS
from models.threads import tune_threads
from models.vision.base import VisionEvent, VisionInputError, VisionLoadError, check_image_count, images_of
from models.vision.generation import hidden_token_ids, stream_generation
from models.vision.processors import processor_class
from models.vision.reasoning import split_reasoning

STOP_IDS = list(STOP_TOKEN_IDS)
REMOTE_CODE_MODEL_TYPES = {"chatglm"}
GLM4V_9B_IMAGE_SIZE = 1120


def _device_and_dtype() -> tuple[str, torch.dtype]:
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def _decode(attachment: Attachment) -> Image.Image:
    try:
        with Image.open(BytesIO(attachment.data or b"")) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise VisionInputError(f"{attachment.name} is not a readable image.") from exc


def _per_image_pixels(image_processor: Any) -> int:
    """The most pixels one image keeps: GLM-4V's `longest_edge` counts the image once per temporal
    patch (smart_resize multiplies by `temporal_patch_size`), so one still image gets that fraction."""
    size = image_processor.size
    longest = size["longest_edge"] if isinstance(size, dict) else size.longest_edge
    return int(longest) // int(getattr(image_processor, "temporal_patch_size", 1) or 1)


class TransformersVisionBackend:
    """A native GLM-4V-family checkpoint; any number of images, at any turn."""

    max_images: int | None = None

    def __init__(self, model_id: str, model_type: str) -> None:
        device, dtype = _device_and_dtype()
        self.model_name = model_id
        self.processor = processor_class(model_type).from_pretrained(model_id)
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, dtype=dtype).to(device).eval()
        self.parameters = self.model.num_parameters()
        tune_threads(self.parameters)
        self.max_pixels = _per_image_pixels(self.processor.image_processor)
        self.hidden_ids = hidden_token_ids(self.processor.tokenizer)
        eos = self.model.generation_config.eos_token_id or STOP_IDS
        self.stop_ids = list(eos) if isinstance(eos, list | tuple) else [eos]

    def build_inputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        """The model inputs for a conversation: the rendered prompt with each image where it was sent."""
        check_image_count(messages, self.max_images, self.model_name)
        items: list[dict[str, Any]] = []
        images: list[Image.Image] = []
        for message in messages:
            if message.role == "user":
                pictures = images_of(message)
                images.extend(_decode(a) for a in pictures)
                parts = [{"type": "image"} for _ in pictures] + [{"type": "text", "text": message.content}]
                items.append({"role": "user", "content": parts})
            elif message.role in {"system", "assistant"} and message.content:
                items.append({"role": message.role, "content": message.content})
        text = self.processor.apply_chat_template(items, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt").to(self.model.device)
        return {k: v for k, v in inputs.items() if k != "token_type_ids"}

    def stream(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]:
        inputs = self.build_inputs(messages)
        tokenizer = self.processor.tokenizer
        yield from split_reasoning(
            stream_generation(self.model, tokenizer, self.hidden_ids, inputs, params, cancel, self.stop_ids)
        )


class RemoteCodeGlm4vBackend:
    """THUDM/glm-4v-9b through its own code: one image per conversation.

    Its tokenizer's `apply_chat_template` takes the image as an `image` key of the message and returns
    it, resized and normalised, as `images` next to the token ids.
    """

    max_images: int | None = 1

    def __init__(self, model_id: str, vision_config: dict[str, Any]) -> None:
        device, dtype = _device_and_dtype()
        self.model_name = model_id
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)
        self.model = (
            AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, trust_remote_code=True)
            .to(device)
            .eval()
        )
        self.parameters = self.model.num_parameters()
        tune_threads(self.parameters)
        side = int(vision_config.get("image_size", GLM4V_9B_IMAGE_SIZE))
        self.max_pixels = side * side
        self.hidden_ids = hidden_token_ids(self.tokenizer)

    def build_inputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        check_image_count(messages, self.max_images, self.model_name)
        items: list[dict[str, Any]] = []
        for message in messages:
            pictures = images_of(message) if message.role == "user" else []
            if message.role not in {"system", "user", "assistant"} or not (message.content or pictures):
                continue
            item: dict[str, Any] = {"role": message.role, "content": message.content}
            if pictures:
                item["image"] = _decode(pictures[0])
            items.append(item)
        inputs = self.tokenizer.apply_chat_template(
            items, add_generation_prompt=True, tokenize=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        return dict(inputs)

    def stream(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]:
        inputs = self.build_inputs(messages)
        yield from split_reasoning(
            stream_generation(self.model, self.tokenizer, self.hidden_ids, inputs, params, cancel, STOP_IDS)
        )


def _vision_config(config: Any) -> dict[str, Any] | None:
    vision = getattr(config, "vision_config", None)
    if vision is None or isinstance(vision, dict):
        return vision
    return vision.to_dict()


def load_local_vision_backend(
    model_id: str, trust_remote_code: bool = False
) -> TransformersVisionBackend | RemoteCodeGlm4vBackend:
    """Load `model_id` once (the app caches the result per process); `VisionLoadError` says why not."""
    try:
        config = AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        if config.model_type in REMOTE_CODE_MODEL_TYPES:
            vision = _vision_config(config)
            if vision is None:
                raise VisionLoadError(
                    f"GLM_VISION_MODEL={model_id} is a text-only ChatGLM checkpoint (its config has no "
                    "vision_config). Set GLM_VISION_MODEL to a vision model such as THUDM/glm-4v-9b, and "
                    "use GLM_MODEL for text models."
                )
            return RemoteCodeGlm4vBackend(model_id, vision)
        return TransformersVisionBackend(model_id, config.model_type)
    except VisionLoadError:
        raise
    except Exception as exc:
        if "trust_remote_code" in str(exc):
            raise VisionLoadError(_load_failure(model_id, exc)) from exc
        detail = f"{type(exc).__name__}: {exc}"
        raise VisionLoadError(
            _load_failure(model_id, exc),
            "local_load_failed",
            variable="GLM_VISION_MODEL",
            model=model_id,
            detail=detail,
        ) from exc


def _load_failure(model_id: str, exc: Exception) -> str:
    if "trust_remote_code" in str(exc):
        return (
            f"GLM_VISION_MODEL={model_id} needs its own Python code to load. "
            "Set GLM_TRUST_REMOTE_CODE=1 if you trust that repository."
        )
    return (
        f"Can't load GLM_VISION_MODEL={model_id} ({type(exc).__name__}: {exc}). Set GLM_VISION_MODEL to a "
        "local GLM-4V checkpoint folder (`.venv/bin/python -m models.tiny ./tiny-glm4v --vision` builds "
        "a tiny one, as does the Models page at /models), or use a server with GLM_BACKEND=openai."
    )
