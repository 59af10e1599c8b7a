"""What every vision backend offers the Vision page, and the two ways a vision request can fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from models.errors import ReportedError
from models.events import Done, ReasoningDelta, TextDelta
from models.messages import Attachment, GenerationParams, Message

VisionEvent = TextDelta | ReasoningDelta | Done


class VisionLoadError(ReportedError):
    """The vision model can't be loaded or reached; the message says what to set (and the `kind`, for a
    server that can't be reached or refuses the request, lets the UI say it)."""


class VisionInputError(ValueError):
    """The conversation can't go to this model as it is (too many images, an unreadable image)."""


class VisionBackend(Protocol):
    """Streams an answer about a conversation whose user messages may carry image attachments.

    A thinking model's reasoning comes as `ReasoningDelta`s, its answer as `TextDelta`s.

    `max_images` is how many images one conversation may hold (None: no fixed limit), `max_pixels`
    the largest image worth sending (bigger ones are scaled down before upload).
    """

    model_name: str
    max_images: int | None
    max_pixels: int

    def stream(
        self, messages: Sequence[Message], params: GenerationParams, cancel: threading.Event
    ) -> Iterator[VisionEvent]: ...


def images_of(message: Message) -> list[Attachment]:
    return [a for a in message.attachments if a.kind == "image" and a.data is not None]


def check_image_count(messages: Sequence[Message], max_images: int | None, model_name: str) -> int:
    """The number of images in `messages`; raises `VisionInputError` above the model's limit."""
    count = sum(len(images_of(m)) for m in messages)
    if max_images is not None and count > max_images:
        noun = "image" if max_images == 1 else "images"
        raise VisionInputError(
            f"{model_name} takes at most {max_images} {noun} per conversation and this one has {count}. "
            "Start a new chat for the next image."
        )
    return count
