"""In-process vision models: the native GLM-4V family (GLM-4.1V and later) and THUDM/glm-4v-9b.

Native checkpoints load through `AutoModelForImageTextToText` with `ImageOnlyGlm4vProcessor`;
glm-4v-9b has no native class and loads through remote code, only when the user allows it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from io import BytesIO
from typing import Any

import torch
from PIL import Image
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoTokenizer,
    Glm4vProcessor,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from models.events import Done, TextDelta
from models.messages import Attachment, GenerationParams, Message
from models.protocol import STOP_TOKEN_IDS
from models.vision.base import VisionEvent, VisionInputError, VisionLoadError, check_image_count, images_of
from models.vision.reasoning import split_reasoning

STOP_IDS = list(STOP_TOKEN_IDS)
REMOTE_CODE_MODEL_TYPES = {"chatglm"}
GLM4V_9B_IMAGE_SIZE = 1120


class ImageOnlyGlm4vProcessor(Glm4vProcessor):
    """`Glm4vProcessor` without its video processor, which needs torchvision (unusable here).

    Load a saved one with `ImageOnlyGlm4vProcessor.from_pretrained(path)`: `AutoProcessor` on such a
    folder returns a bare tokenizer, and on a hub GLM-4.1V folder it asks for torchvision.
    """

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs
    ):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


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


class _Cancelled:
    """Stops generation when the UI sets `cancel` or the reader walks away."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def stream_generation(
    model: Any,
    tokenizer: Any,
    inputs: dict[str, Any],
    params: GenerationParams,
    cancel: threading.Event,
    stop_ids: list[int],
) -> Iterator[VisionEvent]:
    """Run `model.generate` in a thread and yield its text as it comes (no read timeout: slow first
    tokens are normal on CPU), then one `Done`."""
    abandoned = threading.Event()
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs: dict[str, Any] = dict(
        inputs,
        streamer=streamer,
        max_new_tokens=params.max_new_tokens,
        eos_token_id=stop_ids,
        pad_token_id=stop_ids[0],
        stopping_criteria=StoppingCriteriaList([_Cancelled(cancel, abandoned)]),
        do_sample=params.temperature > 0,
    )
    if params.temperature > 0:
        kwargs.update(temperature=params.temperature, top_p=params.top_p)
    outcome: dict[str, Any] = {}

    def generate() -> None:
        try:
            with torch.inference_mode():
                outcome["ids"] = model.generate(**kwargs)
        except BaseException as exc:
            outcome["error"] = exc
            streamer.end()

    thread = threading.Thread(target=generate, name="glm-vision-generate", daemon=True)
    thread.start()
    try:
        for text in streamer:
            if text:
                yield TextDelta(text)
    finally:
        abandoned.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    prompt_len = inputs["input_ids"].shape[1]
    generated = outcome["ids"][0, prompt_len:].tolist()
    if generated and generated[-1] in stop_ids:
        reason = "stop"
    elif cancel.is_set():
        reason = "cancelled"
    else:
        reason = "length" if len(generated) >= params.max_new_tokens else "stop"
    yield Done(reason, usage={"prompt_tokens": prompt_len, "completion_tokens": len(generated)})


class TransformersVisionBackend:
    """A native GLM-4V-family checkpoint; any number of images, at any turn."""

    max_images: int | None = None

    def __init__(self, model_id: str) -> None:
        device, dtype = _device_and_dtype()
        self.model_name = model_id
        self.processor = ImageOnlyGlm4vProcessor.from_pretrained(model_id)
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, dtype=dtype).to(device).eval()
        self.max_pixels = int(self.processor.image_processor.size["longest_edge"])
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
        yield from split_reasoning(
            stream_generation(self.model, self.processor.tokenizer, inputs, params, cancel, self.stop_ids)
        )


class RemoteCodeGlm4vBackend:
    """THUDM/glm-4v-9b through its own code: one image per conversation."""

    max_images: int | None = 1

    def __init__(self, model_id: str) -> None:
        device, dtype = _device_and_dtype()
        self.model_name = model_id
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)
        self.model = (
            AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, trust_remote_code=True)
            .to(device)
            .eval()
        )
        vision = getattr(self.model.config, "vision_config", None) or {}
        side = int(vision.get("image_size", GLM4V_9B_IMAGE_SIZE))
        self.max_pixels = side * side

    def stream(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]:
        check_image_count(messages, self.max_images, self.model_name)
        items: list[dict[str, Any]] = []
        for message in messages:
            if message.role not in {"system", "user", "assistant"}:
                continue
            item: dict[str, Any] = {"role": message.role, "content": message.content}
            pictures = images_of(message) if message.role == "user" else []
            if pictures:
                item["image"] = _decode(pictures[0])
            items.append(item)
        inputs = self.tokenizer.apply_chat_template(
            items, add_generation_prompt=True, tokenize=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        yield from split_reasoning(
            stream_generation(self.model, self.tokenizer, dict(inputs), params, cancel, STOP_IDS)
        )


def load_local_vision_backend(
    model_id: str, trust_remote_code: bool = False
) -> TransformersVisionBackend | RemoteCodeGlm4vBackend:
    """Load `model_id` once (the app caches the result per process); `VisionLoadError` says why not."""
    try:
        config = AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        if config.model_type in REMOTE_CODE_MODEL_TYPES:
            return RemoteCodeGlm4vBackend(model_id)
        return TransformersVisionBackend(model_id)
    except Exception as exc:
        raise VisionLoadError(_load_failure(model_id, exc)) from exc


def _load_failure(model_id: str, exc: Exception) -> str:
    if "trust_remote_code" in str(exc):
        return (
            f"GLM_VISION_MODEL={model_id} needs its own Python code to load. "
            "Set GLM_TRUST_REMOTE_CODE=1 if you trust that repository."
        )
    return (
        f"Can't load GLM_VISION_MODEL={model_id} ({type(exc).__name__}: {exc}). Set GLM_VISION_MODEL to a "
        "local GLM-4V checkpoint folder (try `python -m models.tiny ./tiny-glm4v --vision` for a tiny test "
        "model), or use a server with GLM_BACKEND=openai and GLM_API_BASE."
    )
