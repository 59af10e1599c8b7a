"""Vision over an OpenAI-compatible server: chat completions with images as `image_url` data URLs."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import openai

from models.errors import ServerGone
from models.events import Done, ReasoningDelta, TextDelta
from models.messages import Attachment, GenerationParams, Message
from models.vision.base import VisionEvent, VisionLoadError, check_image_count, images_of
from models.vision.reasoning import split_reasoning

HTTP_MAX_PIXELS = 2048 * 2048


def data_url(attachment: Attachment) -> str:
    encoded = base64.b64encode(attachment.data or b"").decode("ascii")
    return f"data:{attachment.mime};base64,{encoded}"


def to_chat_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """User turns become content parts (images first, then the text); other turns stay plain text."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            parts: list[dict[str, Any]] = [
                {"type": "image_url", "image_url": {"url": data_url(a)}} for a in images_of(message)
            ]
            parts.append({"type": "text", "text": message.content})
            out.append({"role": "user", "content": parts})
        elif message.role in {"system", "assistant"} and message.content:
            out.append({"role": message.role, "content": message.content})
    return out


def _unreachable(api_base: str, exc: Exception) -> VisionLoadError:
    return VisionLoadError(
        f"Can't reach the OpenAI-compatible server at GLM_VISION_API_BASE={api_base} ({exc}). "
        "Start the server or set GLM_VISION_API_BASE / GLM_VISION_API_KEY (when unset, the vision model "
        "is asked for at GLM_API_BASE with GLM_API_KEY).",
        "vision_unreachable",
        api_base=api_base,
        detail=str(exc),
    )


class OpenAIVisionBackend:
    """Any OpenAI-compatible server (vLLM, SGLang, the Zhipu open platform) serving a vision model."""

    max_images: int | None = None
    max_pixels: int = HTTP_MAX_PIXELS

    def __init__(self, api_base: str, api_key: str, model: str, timeout: float = 600.0) -> None:
        self.model_name = model
        self.api_base = api_base
        self.client = openai.OpenAI(base_url=api_base, api_key=api_key, timeout=timeout, max_retries=0)

    def resolve_model(self, explicit: bool) -> None:
        """Ask the server which models it serves: an unreachable server is a `VisionLoadError` now rather
        than at the first question, and a server with one model is used for it unless GLM_VISION_MODEL
        names another. A server without `/models` (some hosted APIs) keeps the configured name."""
        try:
            names = [m.id for m in self.client.models.list()]
        except openai.APIConnectionError as exc:
            raise _unreachable(self.api_base, exc) from exc
        except openai.APIStatusError:
            return
        if not explicit and self.model_name not in names and len(names) == 1:
            self.model_name = names[0]

    def stream(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]:
        return split_reasoning(self._events(messages, params, cancel))

    def _events(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]:
        check_image_count(messages, self.max_images, self.model_name)
        try:
            stream = self.client.chat.completions.create(
                model=self.model_name,
                messages=to_chat_messages(messages),
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                stream=True,
                stream_options={"include_usage": True},  # the real token count, for the timings
            )
        except openai.APIConnectionError as exc:
            raise _unreachable(self.api_base, exc) from exc
        except openai.APIStatusError as exc:
            raise VisionLoadError(
                f"The server at GLM_VISION_API_BASE={self.api_base} refused the request for "
                f"GLM_VISION_MODEL={self.model_name} (HTTP {exc.status_code}: {exc.message}).",
                "vision_refused",
                api_base=self.api_base,
                model=self.model_name,
                status=exc.status_code,
                detail=exc.message,
            ) from exc
        try:
            yield from self._read(stream, cancel)
        except openai.APIConnectionError as exc:
            raise ServerGone(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _read(stream: Any, cancel: threading.Event) -> Iterator[VisionEvent]:
        finish = "stop"
        usage: dict[str, int] = {}
        with stream:
            for chunk in stream:
                if cancel.is_set():
                    yield Done("cancelled")
                    return
                if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                    usage = {"completion_tokens": chunk.usage.completion_tokens}
                    if chunk.usage.prompt_tokens is not None:  # images included, as the server counted
                        usage["prompt_tokens"] = chunk.usage.prompt_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                reasoning = getattr(choice.delta, "reasoning_content", None) if choice.delta else None
                if reasoning:
                    yield ReasoningDelta(reasoning)
                if choice.delta and choice.delta.content:
                    yield TextDelta(choice.delta.content)
                finish = choice.finish_reason or finish
        yield Done("cancelled" if cancel.is_set() else finish, usage)


def load_openai_vision_backend(
    api_base: str, api_key: str, model: str, explicit: bool = True
) -> OpenAIVisionBackend:
    """A backend for `model` on the server at `api_base`, checked to be reachable (see `resolve_model`)."""
    backend = OpenAIVisionBackend(api_base, api_key, model)
    backend.resolve_model(explicit)
    return backend
